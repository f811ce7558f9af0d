"""Maps X12 810 (invoice) to the Invoice event (backbone.finance).

BIG01 invoice date, BIG02 invoice number, BIG03 PO date, BIG04 PO number; IT1 lines; TDS01
is the total with two implied decimals (`TDS*255438` = 2554.38). Without TDS the total is the
sum of the lines; a TDS that differs from that sum is kept and reported as a warning.
`buyer` is the ISA receiver (the supplier sends the invoice to the buyer).
"""

from __future__ import annotations

from decimal import Decimal, localcontext

from backbone.events import Correlation, Event, Invoice, InvoiceLine
from connectors.edi_x12.mapping.common import (
    SetContext,
    description_of,
    id_pairs,
    item_ref,
    midnight,
    parties,
    quantity,
    split_loops,
    text,
)
from connectors.edi_x12.model import Segment

# Enough digits for any product or sum of two numbers `SetContext.number` lets through.
_EXACT_DIGITS = 100
_SUMMARY_TAGS = frozenset({"TDS", "CAD", "ISS", "CTT", "SAC", "TXI", "AMT"})


def map_invoice(ctx: SetContext) -> list[Event]:
    """810 -> one Invoice."""
    big = ctx.require("BIG")
    invoice_number = text(big, 2)
    invoice_date = ctx.date_of(big, 1)
    po_number = text(big, 4)
    if invoice_number is None or invoice_date is None:
        raise ctx.fail(big, "BIG01 (invoice date) or BIG02 (invoice number) is empty",
                       "an invoice needs its number and date")
    if po_number is None:
        raise ctx.fail(big, "BIG04 (purchase order number) is empty",
                       "invoices are keyed by the order they bill")
    body = [s for s in ctx.body if s.tag not in _SUMMARY_TAGS]
    head, loops = split_loops(body, "IT1")
    lines = tuple(_line(ctx, loop, ordinal) for ordinal, loop in enumerate(loops, start=1))
    line_sum = sum((line.amount or Decimal(0) for line in lines), Decimal(0))
    tds = ctx.first("TDS")
    total = line_sum
    if tds is not None:
        raw = ctx.number(tds, 1, required=True)
        assert raw is not None
        total = raw.scaleb(-2) if "." not in tds.element(1) else raw
        if total != line_sum:
            ctx.warn(tds, f"TDS01 total {total} differs from the sum of the lines {line_sum}")
    invoice_parties = parties(ctx, head)
    return [
        Invoice(
            **ctx.envelope(ctx.key(), correlation=Correlation(po_number=po_number)),
            occurred_at=midnight(invoice_date),
            buyer=ctx.receiver,
            po_number=po_number,
            invoice_number=invoice_number,
            invoice_date=invoice_date,
            po_date=ctx.date_of(big, 3),
            invoice_type_raw=text(big, 7),
            currency=next((text(s, 2) for s in head if s.tag == "CUR"), None),
            parties=invoice_parties,
            lines=lines,
            total_amount=total,
        )
    ]


def _line(ctx: SetContext, loop: list[Segment], ordinal: int) -> InvoiceLine:
    it1 = loop[0]
    line_number = text(it1, 1) or str(ordinal)
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
    )


def _amount(quantity: Decimal, price: Decimal) -> Decimal:
    """quantity x price to 4 places, exact: the default 28-digit context would overflow on a
    large (still bounded, see `SetContext.number`) product; the model then judges the fit."""
    with localcontext(prec=_EXACT_DIGITS):
        return (quantity * price).quantize(Decimal("0.0001"))
