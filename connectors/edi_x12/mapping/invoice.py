"""Maps X12 810 (invoice) to the Invoice event (backbone.finance).

BIG01 invoice date, BIG02 invoice number, BIG03 PO date, BIG04 PO number; IT1 lines (an
empty IT101 is numbered by position, with a warning); TDS01 is the total with two implied
decimals (`TDS*255438` = 2554.38).

BIG04 is optional in X12: an invoice for services, utilities or manual billing names no
order. Without BIG04 (and without a header REF*PO) the invoice is still published, with an
empty `po_number` and no PO in its correlation; order fulfillment then has nothing to match.

Allowances and charges (SAC: SAC01 A allowance / C charge / N neither, SAC05 amount with two
implied decimals) are kept on the line (SAC inside an IT1 loop) or on the invoice (SAC in the
summary, after TDS), signed by their effect on the total. TDS01 is checked against lines +
allowances and charges + summary taxes (TXI02); a difference is a warning, and TDS01 stays
the total. Without TDS the total is that sum. `buyer` is the ISA receiver (the supplier sends
the invoice to the buyer). Each 810 of a group is its own invoice.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal, localcontext

from backbone.events import AllowanceCharge, Correlation, Event, Invoice, InvoiceLine
from connectors.edi_x12.mapping.common import (
    SetContext,
    description_of,
    id_pairs,
    item_ref,
    line_number_of,
    midnight,
    parties,
    quantity,
    references,
    split_loops,
    text,
)
from connectors.edi_x12.model import Segment

# Enough digits for any product or sum of numbers `SetContext.number` lets through.
_EXACT_DIGITS = 100
# The summary area starts at the first of these (TDS is mandatory there); a SAC after it is
# the invoice's, a SAC before it belongs to the IT1 loop it sits in.
_SUMMARY_STARTS = frozenset({"TDS", "CAD", "ISS", "CTT"})
_SIGNS = {"A": -1, "C": 1, "N": 0}


def map_invoice(ctx: SetContext) -> list[Event]:
    """810 -> one Invoice."""
    big = ctx.require("BIG")
    invoice_number = text(big, 2)
    invoice_date = ctx.date_of(big, 1)
    if invoice_number is None or invoice_date is None:
        raise ctx.fail(big, "BIG01 (invoice date) or BIG02 (invoice number) is empty",
                       "an invoice needs its number and date")
    detail, summary = _split_summary(ctx.body)
    head, loops = split_loops(detail, "IT1")
    po_number = text(big, 4) or references(head).get("PO")
    lines = tuple(_line(ctx, loop, ordinal) for ordinal, loop in enumerate(loops, start=1))
    charges = tuple(_allowances_charges(ctx, summary))
    with localcontext(prec=_EXACT_DIGITS):
        line_sum = sum((line.amount or Decimal(0) for line in lines), Decimal(0))
        adjustments = sum((c.amount or Decimal(0) for line in lines
                           for c in line.allowances_charges), Decimal(0))
        adjustments += sum((c.amount or Decimal(0) for c in charges), Decimal(0))
        taxes = sum((ctx.number(s, 2) or Decimal(0) for s in summary if s.tag == "TXI"),
                    Decimal(0))
        expected = line_sum + adjustments + taxes
    total = expected
    tds = next((s for s in summary if s.tag == "TDS"), None)
    if tds is not None:
        total = _implied_2(ctx, tds, 1, required=True) or Decimal(0)
        if total != expected:
            ctx.warn(tds, f"TDS01 total {total} differs from lines {line_sum} + allowances "
                     f"and charges {adjustments} + taxes {taxes} = {expected}")
    invoice_parties = parties(ctx, head)
    return [
        Invoice(
            **ctx.envelope(ctx.key(), correlation=Correlation(po_number=po_number)),
            occurred_at=midnight(invoice_date),
            buyer=ctx.receiver,
            po_number=po_number or "",
            invoice_number=invoice_number,
            invoice_date=invoice_date,
            po_date=ctx.date_of(big, 3),
            invoice_type_raw=text(big, 7),
            currency=next((text(s, 2) for s in head if s.tag == "CUR"), None),
            parties=invoice_parties,
            lines=lines,
            total_amount=total,
            allowances_charges=charges,
        )
    ]


def _split_summary(body: tuple[Segment, ...]) -> tuple[list[Segment], list[Segment]]:
    for index, segment in enumerate(body):
        if segment.tag in _SUMMARY_STARTS:
            return list(body[:index]), list(body[index:])
    return list(body), []


def _line(ctx: SetContext, loop: list[Segment], ordinal: int) -> InvoiceLine:
    it1 = loop[0]
    line_number = line_number_of(ctx, it1, ordinal)
    invoiced = quantity(ctx, it1, 2, 3, required=True)
    price = ctx.number(it1, 4, required=True)
    assert invoiced is not None and price is not None
    return InvoiceLine(
        line_number=line_number,
        item=item_ref(ctx, it1, id_pairs(it1, 6), line_ref=line_number,
                      description=description_of(loop)),
        invoiced_qty=invoiced,
        unit_price=price,
        amount=_amount(invoiced.value, price),
        allowances_charges=tuple(_allowances_charges(ctx, loop)),
    )


def _allowances_charges(ctx: SetContext, segments: Iterable[Segment]) -> Iterable[AllowanceCharge]:
    for sac in segments:
        if sac.tag != "SAC":
            continue
        indicator = sac.element(1).strip()
        sign = _SIGNS.get(indicator)
        if sign is None:
            ctx.warn(sac, f"SAC01 {indicator[:5]!r} is not A (allowance), C (charge) or N; "
                     "its amount is kept out of the total")
        amount = _implied_2(ctx, sac, 5)
        yield AllowanceCharge(
            indicator_raw=indicator,
            code_raw=text(sac, 2),
            amount=None if amount is None or sign is None else amount * sign,
            description=text(sac, 15),
        )


def _implied_2(ctx: SetContext, segment: Segment, n: int, *, required: bool = False
               ) -> Decimal | None:
    """An N2 amount (TDS01, SAC05): two implied decimals unless the partner wrote a point."""
    raw = ctx.number(segment, n, required=required)
    if raw is None:
        return None
    return raw if "." in segment.element(n) else raw.scaleb(-2)


def _amount(quantity: Decimal, price: Decimal) -> Decimal:
    """quantity x price to 4 places, exact: the default 28-digit context would overflow on a
    large (still bounded, see `SetContext.number`) product; the model then judges the fit."""
    with localcontext(prec=_EXACT_DIGITS):
        return (quantity * price).quantize(Decimal("0.0001"))
