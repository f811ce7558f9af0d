"""Maps X12 855 (PO acknowledgment) and 865 (seller's change acknowledgment) to
SupplierAcknowledgement: header ack type (587) and, per line, every ACK (668) it carries.

A line may carry several ACK segments (split quantities: part accepted, part backordered);
each becomes one LineAck. ACK04/05 dates (element 374): 010 requested ship, 068 current
schedule ship, 079 promised for shipment are ship dates; 002 delivery requested, 017
estimated delivery, 067 current schedule delivery, 069 promised for delivery are
delivery dates. ACK27-29 (code list qualifier, industry codes) are kept as `reason_raw`
"<27>:<28>:<29>" because partners put their reason codes there (node-x12 855: `BI*ACK*CW`
-> "BI:ACK:CW").

Dates keep their qualifiers at every level: header DTM (`dates`), line DTM before the first
ACK (`SupplierAckLine.dates`), ACK04/05 and the DTM of an ACK loop (`LineAck.dates`); a date
that is not a date is a warning naming its segment. An 865 line carries the change it
answers (POC02, element 670) and the quantity left to receive (POC04).
"""

from __future__ import annotations

from backbone.events import (
    AckType,
    Correlation,
    Event,
    LineAck,
    LineAckStatus,
    LineChangeType,
    SupplierAckLine,
    SupplierAcknowledgement,
)
from connectors.edi_x12.mapping.common import (
    SetContext,
    business_dates,
    dated,
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
from connectors.edi_x12.mapping.purchase_order import CHANGE_TYPES
from connectors.edi_x12.model import Segment

# Element 587 (BAK02/BCA02); NA (no acknowledgment needed) stays UNKNOWN with its raw code.
ACK_TYPES = {
    "AT": AckType.ACCEPTED, "AK": AckType.ACCEPTED, "AD": AckType.ACCEPTED,
    "AP": AckType.ACCEPTED, "AC": AckType.ACCEPTED_WITH_CHANGES,
    "AE": AckType.ACCEPTED_WITH_CHANGES, "AH": AckType.ON_HOLD, "RD": AckType.REJECTED,
    "RF": AckType.REJECTED, "RJ": AckType.REJECTED, "RN": AckType.REJECTED,
    "RV": AckType.REJECTED, "RO": AckType.REJECTED_COUNTEROFFER, "NA": AckType.UNKNOWN,
    "ZZ": AckType.UNKNOWN,
}

# Element 668 (ACK01).
LINE_STATUSES = {
    "IA": LineAckStatus.ACCEPTED, "AC": LineAckStatus.ACCEPTED, "AR": LineAckStatus.ACCEPTED,
    "AA": LineAckStatus.ACCEPTED, "IC": LineAckStatus.ACCEPTED_WITH_CHANGES,
    "IP": LineAckStatus.ACCEPTED_WITH_CHANGES, "IQ": LineAckStatus.ACCEPTED_WITH_CHANGES,
    "DR": LineAckStatus.ACCEPTED_WITH_CHANGES, "IS": LineAckStatus.ACCEPTED_WITH_CHANGES,
    "IE": LineAckStatus.ACCEPTED_PENDING, "SP": LineAckStatus.ACCEPTED_PENDING,
    "BP": LineAckStatus.PARTIALLY_BACKORDERED, "IB": LineAckStatus.BACKORDERED,
    "IH": LineAckStatus.ON_HOLD, "IF": LineAckStatus.ON_HOLD, "IW": LineAckStatus.ON_HOLD,
    "ID": LineAckStatus.CANCELLED, "IR": LineAckStatus.REJECTED,
    **{f"R{n}": LineAckStatus.REJECTED for n in range(1, 9)},
}

_SHIP_DATES = frozenset({"010", "068", "079"})
_DELIVERY_DATES = frozenset({"002", "017", "067", "069"})
_LINE_TAGS = frozenset({"PO1", "POC"})


def map_acknowledgement(ctx: SetContext) -> list[Event]:
    """855 or 865 -> one SupplierAcknowledgement."""
    is_change = ctx.transaction_set.set_id == "865"
    begin = ctx.require("BCA" if is_change else "BAK")
    po_number = text(begin, 3)
    if po_number is None:
        raise ctx.fail(begin, f"{begin.tag}03 (purchase order number) is empty",
                       "an acknowledgement must name the order it answers")
    ack_raw = begin.element(2).strip()
    ack_type = ACK_TYPES.get(ack_raw)
    if ack_type is None:
        ctx.warn(begin, f"acknowledgment type {ack_raw!r} (element 587) is not known")
        ack_type = AckType.UNKNOWN
    body = [s for s in ctx.body if s.tag != "CTT"]
    head, loops = split_loops(body, _LINE_TAGS)
    po_date = ctx.date_of(begin, 6 if is_change else 4)
    ack_date = None if is_change else ctx.date_of(begin, 9)
    header_dates = business_dates(ctx, head)
    lines = tuple(_line(ctx, loop, ordinal) for ordinal, loop in enumerate(loops, start=1))
    occurred = ack_date or po_date
    # Read before the envelope copies the warnings (a GLN check may add one).
    header_parties = parties(ctx, head)
    return [
        SupplierAcknowledgement(
            **ctx.envelope(ctx.key(), correlation=Correlation(po_number=po_number)),
            occurred_at=ctx.document_time() if occurred is None else midnight(occurred),
            buyer=ctx.receiver,
            po_number=po_number,
            po_date=po_date,
            ack_type=ack_type,
            ack_type_raw=ack_raw or None,
            ack_date=ack_date,
            seller_order_number=None if is_change else text(begin, 8),
            change_sequence=text(begin, 5) if is_change else None,
            parties=header_parties,
            lines=lines,
            dates=header_dates,
        )
    ]


def _line(ctx: SetContext, loop: list[Segment], ordinal: int) -> SupplierAckLine:
    line = loop[0]
    line_number = line_number_of(ctx, line, ordinal)
    change_type = change_raw = left = None
    if line.tag == "POC":
        ordered, price_at, ids_from = quantity(ctx, line, 3, 5), 6, 8
        change_raw = text(line, 2)
        change_type = CHANGE_TYPES.get(change_raw or "")
        if change_type is None:
            ctx.warn(line, f"POC02 change type {change_raw!r} (element 670) is not known")
            change_type = LineChangeType.UNKNOWN
        left = quantity(ctx, line, 4, 5)
    else:
        ordered, price_at, ids_from = quantity(ctx, line, 2, 3), 4, 6
    # DTM before the first ACK dates the line; a DTM after an ACK belongs to that ACK's loop.
    line_dates: list[Segment] = []
    acks: list[tuple[Segment, list[Segment]]] = []
    for segment in loop[1:]:
        if segment.tag == "ACK":
            acks.append((segment, []))
        elif segment.tag == "DTM":
            (acks[-1][1] if acks else line_dates).append(segment)
    return SupplierAckLine(
        line_number=line_number,
        item=item_ref(ctx, line, id_pairs(line, ids_from), line_ref=line_number,
                      description=description_of(loop)),
        ordered_qty=ordered,
        unit_price=ctx.number(line, price_at),
        acks=tuple(_ack(ctx, ack, dtms) for ack, dtms in acks),
        change_type=change_type,
        change_type_raw=change_raw,
        qty_left_to_receive=left,
        dates=business_dates(ctx, line_dates),
    )


def _ack(ctx: SetContext, ack: Segment, dtms: list[Segment]) -> LineAck:
    status_raw = ack.element(1).strip()
    status = LINE_STATUSES.get(status_raw)
    if status is None:
        ctx.warn(ack, f"line status {status_raw!r} (element 668) is not known")
        status = LineAckStatus.UNKNOWN
    qualifier = ack.element(4).strip()
    ack_date = dated(ctx, ack, 4, 5)
    day = ack_date.date if ack_date is not None else None
    substitute = None
    if status_raw == "IS":
        pairs = list(id_pairs(ack, 7, 26))
        substitute = item_ref(ctx, ack, pairs) if pairs else None
    reason = [v for v in (text(ack, 27), text(ack, 28), text(ack, 29)) if v]
    return LineAck(
        status=status,
        status_raw=status_raw or None,
        quantity=quantity(ctx, ack, 2, 3),
        promised_ship_date=day if qualifier in _SHIP_DATES else None,
        promised_delivery_date=day if qualifier in _DELIVERY_DATES else None,
        substitute_item=substitute,
        reason_raw=":".join(reason) or None,
        dates=(*((ack_date,) if ack_date is not None else ()), *business_dates(ctx, dtms)),
    )
