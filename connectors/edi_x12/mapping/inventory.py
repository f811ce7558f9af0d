"""Maps warehouse and inventory sets: 846 -> InventorySnapshot (one per LIN), 947 ->
InventoryMovement (one per W19), 944 and 861 -> GoodsReceipt (one per SKU of the document).

Location: the N1 WH (warehouse) / ST / SF party's id, else its name, else the ISA sender
(the warehouse or trading partner reporting). 846 QTY01 (element 673) qualifiers map to
quantity names: 17 ON_HAND, 33 AVAILABLE, 02/38 ALLOCATED, QH ON_HOLD; any other qualifier is
kept under its raw code ("QTY_<code>") rather than guessed. 846 `as_of`: a DTM with an
as-of qualifier (`AS_OF_QUALIFIERS`) of the item, else of the header, else BIA04/BIA05.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from backbone.events import (
    AdjustmentReason,
    Correlation,
    Event,
    GoodsReceipt,
    InventoryMovement,
    InventorySnapshot,
    ItemRef,
    LocationRef,
    MovementType,
    PartyRef,
    PartyRole,
    Quantity,
    ReceiptCondition,
    ReceiptLine,
    StockStatus,
)
from connectors.edi_x12.mapping.common import (
    SetContext,
    combine,
    id_pairs,
    item_ref,
    midnight,
    parties,
    quantity,
    references,
    split_loops,
    text,
)
from connectors.edi_x12.model import Segment

QUANTITY_NAMES = {"17": "ON_HAND", "33": "AVAILABLE", "02": "ALLOCATED", "38": "ALLOCATED",
                  "QH": "ON_HOLD"}

# Element 181 (W1901); reference/domain.md 1.3.
REASONS = {
    "AA": AdjustmentReason.CYCLE_COUNT, "51": AdjustmentReason.FOUND,
    "56": AdjustmentReason.BOOK_ADJUSTMENT, "AB": AdjustmentReason.BOOK_ADJUSTMENT,
    "AY": AdjustmentReason.RECEIPT_CORRECTION, "04": AdjustmentReason.RECEIPT_CORRECTION,
    "53": AdjustmentReason.SHIPMENT_CORRECTION, "AR": AdjustmentReason.SHIPMENT_CORRECTION,
    "AU": AdjustmentReason.DAMAGE, "AV": AdjustmentReason.DAMAGE,
    "52": AdjustmentReason.REWORK, "07": AdjustmentReason.WRITE_OFF,
    "AI": AdjustmentReason.WRITE_OFF, "AX": AdjustmentReason.EXPIRY,
    "AW": AdjustmentReason.QUALITY_HOLD, "05": AdjustmentReason.STATUS_CHANGE,
    "55": AdjustmentReason.STATUS_CHANGE, "AC": AdjustmentReason.STATUS_CHANGE,
    "AD": AdjustmentReason.STATUS_CHANGE, "BR": AdjustmentReason.STATUS_CHANGE,
    "BS": AdjustmentReason.STATUS_CHANGE, "AE": AdjustmentReason.ITEM_RECLASS,
    "AF": AdjustmentReason.ITEM_RECLASS, "AN": AdjustmentReason.ITEM_RECLASS,
    "AG": AdjustmentReason.OWNERSHIP_CHANGE, "CO": AdjustmentReason.OWNERSHIP_CHANGE,
    "AK": AdjustmentReason.TRANSFER, "AT": AdjustmentReason.KITTING,
    **{code: AdjustmentReason.OTHER for code in ("AS", "BM", "BN", "CD", "TC", "AH", "AL")},
}
_MOVEMENT_TYPES = {
    AdjustmentReason.STATUS_CHANGE: MovementType.STATUS_CHANGE,
    AdjustmentReason.ITEM_RECLASS: MovementType.RECLASS,
    AdjustmentReason.TRANSFER: MovementType.TRANSFER,
}
# Hold / release change status, not on-hand (reference/domain.md, element 181 05/55).
_STATUS_MOVES = {"05": (StockStatus.AVAILABLE, StockStatus.ON_HOLD),
                 "55": (StockStatus.ON_HOLD, StockStatus.AVAILABLE)}
_SITE_ROLES = (PartyRole.WAREHOUSE, PartyRole.SHIP_TO, PartyRole.SHIP_FROM)


def _site(ctx: SetContext, found: tuple[PartyRef, ...]) -> tuple[str, LocationRef]:
    for role in _SITE_ROLES:
        party = next((p for p in found if p.role is role), None)
        if party is not None and (party.id or party.name):
            ident = party.id or party.name or ""
            gln = party.id if party.id_qualifier_raw == "UL" else None
            return ident, LocationRef(gln=gln, site_id=ident, name=party.name)
    return ctx.sender, LocationRef(site_id=ctx.sender)


def _sku(ctx: SetContext, segment: Segment, item: ItemRef) -> str:
    sku = item.sku or item.case_code
    if sku is None:
        raise ctx.fail(segment, f"{segment.tag} names no item id",
                       "stock events are keyed by SKU; send a product id pair")
    return sku


# -- 846 -------------------------------------------------------------------------------


def map_inventory_advice(ctx: SetContext) -> list[Event]:
    """846 -> one InventorySnapshot per LIN loop (replaces, never increments)."""
    bia = ctx.require("BIA")
    head, loops = split_loops(ctx.body, "LIN")
    location, _ = _site(ctx, parties(ctx, head))
    as_of = _as_of(ctx, bia, head)
    events: list[Event] = []
    # Each snapshot carries the set-level warnings and those of its own LIN loop only.
    set_warnings = list(ctx.warnings)
    for ordinal, loop in enumerate(loops, start=1):
        ctx.warnings[:] = set_warnings
        lin = loop[0]
        item = item_ref(ctx, lin, id_pairs(lin, 2), line_ref=text(lin, 1))
        sku = _sku(ctx, lin, item)
        quantities: dict[str, Quantity] = {}
        for qty in (s for s in loop if s.tag == "QTY"):
            value = quantity(ctx, qty, 2, 3, required=True)
            assert value is not None
            raw = qty.element(1).strip()
            quantities[QUANTITY_NAMES.get(raw, f"QTY_{raw}")] = value
        if not quantities:
            raise ctx.fail(lin, f"item {sku} has no QTY segment",
                           "a snapshot needs at least one quantity")
        line_as_of = _as_of(ctx, bia, loop, as_of)
        events.append(
            InventorySnapshot(
                **ctx.envelope(ctx.key(f"LIN{ordinal}", sku)),
                occurred_at=line_as_of,
                sku=sku,
                location=location,
                snapshot_id=text(bia, 3),
                as_of=line_as_of,
                item=item,
                quantities=quantities,
                report_type_raw=text(bia, 2),
            )
        )
    return events


# DTM01 (element 374) qualifiers that date an inventory position: 007 effective, 009
# process, 194 period end, 405 production (the count), 514 transferred. Any other DTM of an
# 846 (036 expiration, 002 delivery requested, 017 estimated delivery ...) dates something
# else and never becomes `as_of`.
AS_OF_QUALIFIERS = frozenset({"007", "009", "194", "405", "514"})


def _as_of(ctx: SetContext, bia: Segment, segments: list[Segment],
           default: datetime | None = None) -> datetime:
    """The DTM of an as-of qualifier among `segments`, else `default`, else BIA04/BIA05,
    else the group's date."""
    for dtm in segments:
        if dtm.tag == "DTM" and dtm.element(1).strip() in AS_OF_QUALIFIERS:
            day = ctx.date_of(dtm, 2)
            if day is not None:
                return combine(day, dtm.element(3))
    if default is not None:
        return default
    day = ctx.date_of(bia, 4)
    return combine(day, bia.element(5)) if day else ctx.document_time()


# -- 947 -------------------------------------------------------------------------------


def map_inventory_adjustment(ctx: SetContext) -> list[Event]:
    """947 -> one InventoryMovement per W19 (signed quantity, reason 181)."""
    w15 = ctx.require("W15")
    adjustment = text(w15, 2) or text(w15, 3) or ctx.transaction_set.control_number
    day = ctx.date_of(w15, 1)
    occurred = midnight(day) if day else ctx.document_time()
    head, _ = split_loops(ctx.body, frozenset({"LX", "W19"}))
    location, _ = _site(ctx, parties(ctx, head))
    events: list[Event] = []
    set_warnings = list(ctx.warnings)  # each movement: these and its own W19's
    for ordinal, w19 in enumerate((s for s in ctx.body if s.tag == "W19"), start=1):
        ctx.warnings[:] = set_warnings
        reason_raw = w19.element(1).strip()
        reason = REASONS.get(reason_raw)
        if reason is None:
            ctx.warn(w19, f"adjustment reason {reason_raw!r} (element 181) is not known")
            reason = AdjustmentReason.UNKNOWN
        delta = quantity(ctx, w19, 2, 3, required=True)
        assert delta is not None
        item = item_ref(ctx, w19, [("UA", w19.element(4).strip()), *id_pairs(w19, 5, 8)])
        sku = _sku(ctx, w19, item)
        statuses = _STATUS_MOVES.get(reason_raw, (None, None))
        events.append(
            InventoryMovement(
                **ctx.envelope(ctx.key(f"W19-{ordinal}", sku)),
                occurred_at=occurred,
                sku=sku,
                location=location,
                movement_id=f"947:{adjustment}:{ordinal}",
                movement_type=_MOVEMENT_TYPES.get(reason, MovementType.ADJUSTMENT),
                reason=reason,
                reason_raw=reason_raw or None,
                item=item,
                lot=text(w19, 9),
                qty_delta=delta,
                from_status=statuses[0],
                to_status=statuses[1],
                transaction_type_raw=text(w19, 16),
                reference=text(w15, 3),
            )
        )
    if not events:
        raise ctx.fail(w15, "the adjustment has no W19 line", "a 947 adjusts at least one item")
    return events


# -- 944 / 861 -------------------------------------------------------------------------


def map_receipt(ctx: SetContext) -> list[Event]:
    """944 (W17 + W07/W13) or 861 (BRA + LIN/RCD) -> one GoodsReceipt per SKU."""
    is_944 = ctx.transaction_set.set_id == "944"
    begin = ctx.require("W17" if is_944 else "BRA")
    if is_944:
        receipt_id = text(begin, 3) or text(begin, 4)
        day, po, asn, depositor = (ctx.date_of(begin, 2), None, text(begin, 5),
                                   text(begin, 4))
        head, _ = split_loops(ctx.body, frozenset({"LX", "W07"}))
        lines = _lines_944(ctx)
    else:
        receipt_id = text(begin, 1)
        day, depositor = ctx.date_of(begin, 2), None
        head, _ = split_loops(ctx.body, frozenset({"RCD", "LIN"}))
        refs = references(ctx.body)
        prf = ctx.first("PRF")
        po = (text(prf, 1) if prf else None) or refs.get("PO")
        asn = refs.get("SI") or refs.get("BM")
        lines = _lines_861(ctx)
    if receipt_id is None:
        raise ctx.fail(begin, f"{begin.tag} names no receipt number", "a receipt needs its id")
    location, site = _site(ctx, parties(ctx, head))
    by_sku: dict[str, list[ReceiptLine]] = defaultdict(list)
    for segment, line in lines:
        by_sku[_sku(ctx, segment, line.item)].append(line)
    if not by_sku:
        raise ctx.fail(begin, "the receipt has no received line", "send at least one line")
    occurred = midnight(day) if day else ctx.document_time()
    return [
        GoodsReceipt(
            **ctx.envelope(ctx.key(sku), correlation=Correlation(po_number=po, asn_id=asn)),
            occurred_at=occurred,
            sku=sku,
            location=location,
            receipt_id=receipt_id,
            site=site,
            asn_id=asn,
            po_number=po,
            depositor_order=depositor,
            lines=tuple(sku_lines),
        )
        for sku, sku_lines in by_sku.items()
    ]


def _lines_944(ctx: SetContext) -> list[tuple[Segment, ReceiptLine]]:
    found: list[tuple[Segment, ReceiptLine]] = []
    last_item: ItemRef | None = None
    for segment in ctx.body:
        if segment.tag == "W07":
            qty = quantity(ctx, segment, 1, 2, required=True)
            assert qty is not None
            last_item = item_ref(ctx, segment, [("UA", segment.element(3).strip()),
                                                *id_pairs(segment, 4, 5)])
            found.append((segment, ReceiptLine(item=last_item, received_qty=qty,
                                               lot=text(segment, 7),
                                               condition=ReceiptCondition.GOOD)))
        elif segment.tag == "W13" and last_item is not None:
            # An exception line: over / short / damaged quantity of the W07 before it.
            qty = quantity(ctx, segment, 1, 2, required=True)
            assert qty is not None
            found.append((segment, ReceiptLine(item=last_item, received_qty=qty,
                                               condition=ReceiptCondition.UNKNOWN,
                                               condition_raw=text(segment, 3))))
    return found


# Element 412 (RCD08 receiving condition), the codes whose meaning is clear.
_CONDITIONS = {"01": ReceiptCondition.DAMAGED, "02": ReceiptCondition.OVER,
               "03": ReceiptCondition.SHORT}


def _lines_861(ctx: SetContext) -> list[tuple[Segment, ReceiptLine]]:
    found: list[tuple[Segment, ReceiptLine]] = []
    item: ItemRef | None = None
    for segment in ctx.body:
        if segment.tag == "LIN":
            item = item_ref(ctx, segment, id_pairs(segment, 2), line_ref=text(segment, 1))
        elif segment.tag == "RCD":
            if item is None:
                raise ctx.fail(segment, "RCD before any LIN", "each RCD follows its item's LIN")
            qty = quantity(ctx, segment, 2, 3, required=True)
            assert qty is not None
            raw = text(segment, 8)
            condition = _CONDITIONS.get(raw or "", ReceiptCondition.GOOD if raw is None
                                        else ReceiptCondition.UNKNOWN)
            found.append((segment, ReceiptLine(line_ref=text(segment, 1) or item.line_ref,
                                               item=item, received_qty=qty,
                                               condition=condition, condition_raw=raw)))
    return found
