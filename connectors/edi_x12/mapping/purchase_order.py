"""Maps X12 850 (purchase order) and 860 (buyer's change) to PurchaseOrderChanged.

`buyer` is the ISA sender id (the buyer sends 850/860), so the same trading-partner id keys
the 855/856/810 the supplier sends back (there it is the ISA receiver). A PO1/POC without a
line number (x12-types 004010_850 writes `PO1**16*CA...`) gets its 1-based ordinal, with a
warning. An 860 POC carries its change type (POC02) and the quantity left to receive (POC04);
POC03 is conditional, so a line without it (a deletion, a price change, a reschedule) has
`ordered_qty` zero and `ordered_qty_stated` false.
"""

from __future__ import annotations

from decimal import Decimal

from backbone.events import (
    Correlation,
    Event,
    LineChangeType,
    Pack,
    PurchaseOrderChanged,
    PurchaseOrderLine,
    PurchaseOrderPurpose,
    Quantity,
)
from connectors.edi_x12.mapping.common import (
    SetContext,
    business_dates,
    description_of,
    id_pairs,
    item_ref,
    line_number_of,
    midnight,
    parties,
    quantity,
    split_loops,
    text,
)
from connectors.edi_x12.model import Segment

# Element 353 (BEG01/BCH01).
PURPOSES = {
    "00": PurchaseOrderPurpose.ORIGINAL, "06": PurchaseOrderPurpose.ORIGINAL,
    "07": PurchaseOrderPurpose.ORIGINAL, "01": PurchaseOrderPurpose.CANCEL,
    "03": PurchaseOrderPurpose.CANCEL, "04": PurchaseOrderPurpose.CHANGE,
    "05": PurchaseOrderPurpose.REPLACE,
}

# Element 670 (POC02); reference/domain.md 1.3.
CHANGE_TYPES = {
    "AI": LineChangeType.ADD, "CA": LineChangeType.CHANGE, "DI": LineChangeType.DELETE,
    "CF": LineChangeType.DELETE, "NC": LineChangeType.NO_CHANGE,
    "PC": LineChangeType.PRICE_CHANGE, "PQ": LineChangeType.PRICE_AND_QUANTITY_CHANGE,
    "PR": LineChangeType.PRICE_AND_DATE_CHANGE, "QD": LineChangeType.QUANTITY_CHANGE,
    "QI": LineChangeType.QUANTITY_CHANGE, "RQ": LineChangeType.QUANTITY_AND_DATE_CHANGE,
    "RS": LineChangeType.DATE_CHANGE, "CT": LineChangeType.DATE_CHANGE,
    "RZ": LineChangeType.REPLACE, "RE": LineChangeType.ITEM_SUBSTITUTION,
    "RM": LineChangeType.ITEM_SUBSTITUTION, "CB": LineChangeType.OTHER,
    "CC": LineChangeType.OTHER, "CE": LineChangeType.OTHER, "CG": LineChangeType.OTHER,
    "RC": LineChangeType.OTHER, "RA": LineChangeType.OTHER, "RB": LineChangeType.OTHER,
    "TI": LineChangeType.OTHER, "MU": LineChangeType.OTHER,
}

_LINE_TAGS = frozenset({"PO1", "POC"})
_SUMMARY_TAGS = frozenset({"CTT", "AMT"})


def map_purchase_order(ctx: SetContext) -> list[Event]:
    """850 or 860 -> one PurchaseOrderChanged."""
    is_change = ctx.transaction_set.set_id == "860"
    begin = ctx.require("BCH" if is_change else "BEG")
    po_number = text(begin, 3)
    if po_number is None:
        raise ctx.fail(begin, f"{begin.tag}03 (purchase order number) is empty",
                       "every purchase order needs its number")
    purpose_raw = begin.element(1).strip()
    purpose = PURPOSES.get(purpose_raw)
    if purpose is None:
        ctx.warn(begin, f"purpose code {purpose_raw!r} (element 353) is not known; "
                 "purpose UNKNOWN")
        purpose = PurchaseOrderPurpose.UNKNOWN
    po_date = ctx.date_of(begin, 6 if is_change else 5)
    body = [s for s in ctx.body if s.tag not in _SUMMARY_TAGS]
    head, loops = split_loops(body, _LINE_TAGS)
    lines = tuple(_line(ctx, loop, ordinal) for ordinal, loop in enumerate(loops, start=1))
    total = None
    for segment in ctx.body:
        if segment.tag == "AMT" and segment.element(1).strip() in ("TT", "1"):
            total = ctx.number(segment, 2)
    currency = next((text(s, 2) for s in head if s.tag == "CUR"), None)
    key = ctx.key()
    # Read before the envelope copies the warnings (a GLN check may add one).
    header_parties = parties(ctx, head)
    return [
        PurchaseOrderChanged(
            **ctx.envelope(key, correlation=Correlation(po_number=po_number)),
            occurred_at=midnight(po_date) if po_date else ctx.document_time(),
            buyer=ctx.sender,
            po_number=po_number,
            po_release=text(begin, 4),
            po_date=po_date,
            purpose=purpose,
            purpose_raw=purpose_raw or None,
            change_sequence=text(begin, 5) if is_change else None,
            po_type_raw=text(begin, 2),
            currency=currency,
            parties=header_parties,
            dates=business_dates(ctx, head),
            lines=lines,
            total_amount=total,
        )
    ]


def _line(ctx: SetContext, loop: list[Segment], ordinal: int) -> PurchaseOrderLine:
    line = loop[0]
    line_number = line_number_of(ctx, line, ordinal)
    if line.tag == "POC":
        change_raw = line.element(2).strip()
        change_type = CHANGE_TYPES.get(change_raw)
        if change_type is None:
            ctx.warn(line, f"change type {change_raw!r} (element 670) is not known")
            change_type = LineChangeType.UNKNOWN
        ordered = quantity(ctx, line, 3, 5)
        left = quantity(ctx, line, 4, 5)
        price_at, ids_from = 6, 8
    else:
        change_raw, change_type = "", LineChangeType.ADD
        ordered = quantity(ctx, line, 2, 3)
        left = None
        price_at, ids_from = 4, 6
    stated = ordered is not None
    if ordered is None:
        if line.tag == "PO1":
            raise ctx.fail(line, f"PO102 (quantity ordered) of line {line_number} is empty",
                           "an order line needs its ordered quantity")
        # POC03 is conditional: a deleted line, a price change or a reschedule need not
        # restate the quantity. Zero, marked as not stated, never a new quantity.
        unit = ctx.interchange.delimiters.components(line.element(5))[0].strip()
        ordered = Quantity(value=Decimal(0), uom=unit or "EA")
    pack = None
    po4 = next((s for s in loop if s.tag == "PO4"), None)
    if po4 is not None:
        pack_count = ctx.number(po4, 1)
        pack = Pack(
            pack=int(pack_count) if pack_count is not None else None,
            size=ctx.number(po4, 2),
            size_uom=text(po4, 3),
        )
    return PurchaseOrderLine(
        line_number=line_number,
        change_type=change_type,
        change_type_raw=change_raw or None,
        item=item_ref(ctx, line, id_pairs(line, ids_from), line_ref=line_number,
                      description=description_of(loop)),
        ordered_qty=ordered,
        qty_left_to_receive=left,
        unit_price=ctx.number(line, price_at),
        price_basis_raw=text(line, price_at + 1),
        pack=pack,
        dates=business_dates(ctx, loop),
        ordered_qty_stated=stated,
    )
