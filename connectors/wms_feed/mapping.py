"""Pure mapping of WMS feed rows (movements, counts, receipts) to canonical events.

A row is a dict of text fields (a CSV row under its header, or a JSON-lines object); the
columns are documented in connectors/wms_feed/README.md. ``record_type`` picks the event:
MOVEMENT -> InventoryMovement, COUNT -> InventorySnapshot, RECEIPT -> GoodsReceipt. Anything
that does not map raises :class:`BadRow` with the problem and what to do; the caller adds the
file and row number.

Idempotency key: ``<instance>:<record_type>:<record_id>:<sku>`` — the WMS's own id of the
movement, count or receipt, so the same fact re-sent in another file keeps its key.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError

from backbone.errors import Category
from backbone.events import (
    AdjustmentReason,
    Correlation,
    DocumentRef,
    DocumentStandard,
    Event,
    GoodsReceipt,
    InventoryMovement,
    InventorySnapshot,
    ItemRef,
    LocationRef,
    MovementType,
    Quantity,
    ReceiptCondition,
    ReceiptLine,
    Source,
    SourceSystem,
)

EVENT_ID_NAMESPACE = uuid.UUID("2c0f5b0e-9a8d-4e77-b3a4-6e1f7d2c9b10")

COLUMNS = ("record_type", "record_id", "occurred_at", "site", "sku", "qty", "uom",
           "movement_type", "reason", "lot", "sublocation", "reference", "po_number",
           "asn_id", "condition", "available", "allocated", "on_hold", "description")
REQUIRED = ("record_type", "record_id", "occurred_at", "site", "sku", "qty", "uom")

# WMS reason codes as most WMSs print them; canonical names are accepted as they are.
REASON_CODES = {
    "CC": AdjustmentReason.CYCLE_COUNT, "FD": AdjustmentReason.FOUND,
    "DM": AdjustmentReason.DAMAGE, "EX": AdjustmentReason.EXPIRY,
    "QH": AdjustmentReason.QUALITY_HOLD, "WO": AdjustmentReason.WRITE_OFF,
    "TR": AdjustmentReason.TRANSFER, "RC": AdjustmentReason.RECEIPT,
    "SH": AdjustmentReason.SHIPMENT, "RW": AdjustmentReason.REWORK,
    "KT": AdjustmentReason.KITTING, "SC": AdjustmentReason.STATUS_CHANGE,
}


class BadRow(ValueError):
    """A row that does not map; ``str()`` is the problem and what to do (no position)."""

    def __init__(self, problem: str, category: Category = Category.SCHEMA_VALIDATION) -> None:
        super().__init__(problem)
        self.category = category


def map_row(row: Mapping[str, Any], *, instance: str, source_ref: str,
            recorded_at: datetime) -> Event:
    """The canonical event of one feed row; BadRow when it does not map."""
    for column in REQUIRED:
        if _text(row, column) is None:
            raise BadRow(f"column {column!r} is empty; every row needs "
                         f"{', '.join(REQUIRED)}")
    kind = str(row["record_type"]).strip().upper()
    builders = {"MOVEMENT": _movement, "COUNT": _count, "RECEIPT": _receipt}
    if kind not in builders:
        raise BadRow(f"record_type {row['record_type']!r} is not MOVEMENT, COUNT or RECEIPT",
                     Category.UNKNOWN_CODE)
    try:
        return builders[kind](row, _envelope(row, kind, instance, source_ref, recorded_at))
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise BadRow(f"{where}: {first['msg']}") from None


def _envelope(row: Mapping[str, Any], kind: str, instance: str, source_ref: str,
              recorded_at: datetime) -> dict[str, Any]:
    occurred = _timestamp(row, "occurred_at")
    offset = occurred.utcoffset()
    minutes = None if offset is None else int(offset.total_seconds() // 60)  # Z is 0, not None
    key = f"{instance}:{kind.lower()}:{_text(row, 'record_id')}:{_text(row, 'sku')}"
    return {
        "event_id": str(uuid.uuid5(EVENT_ID_NAMESPACE, key)),
        "occurred_at": occurred,
        "occurred_at_offset_minutes": minutes,
        "recorded_at": recorded_at,
        "source": Source(system=SourceSystem.WMS, instance=instance,
                         document=DocumentRef(standard=DocumentStandard.FILE,
                                              raw_ref=source_ref)),
        "correlation": Correlation(po_number=_text(row, "po_number"),
                                   asn_id=_text(row, "asn_id")),
        "idempotency_key": key,
    }


def _item(row: Mapping[str, Any]) -> ItemRef:
    return ItemRef(sku=_text(row, "sku"), description=_text(row, "description"))


def _movement(row: Mapping[str, Any], envelope: dict[str, Any]) -> InventoryMovement:
    type_raw = _text(row, "movement_type")
    try:
        movement_type = MovementType((type_raw or "").upper())
    except ValueError:
        raise BadRow(f"movement_type {type_raw!r} is not one of RECEIPT, ISSUE, TRANSFER, "
                     "ADJUSTMENT, STATUS_CHANGE", Category.UNKNOWN_CODE) from None
    reason_raw = _text(row, "reason")
    reason = AdjustmentReason.OTHER if reason_raw is None else _reason(reason_raw)
    return InventoryMovement(
        **envelope, sku=_text(row, "sku"), location=_text(row, "site"),
        movement_id=_text(row, "record_id"), movement_type=movement_type, reason=reason,
        reason_raw=reason_raw, item=_item(row), sublocation=_text(row, "sublocation"),
        lot=_text(row, "lot"), qty_delta=Quantity(value=_decimal(row, "qty"),
                                                  uom=_text(row, "uom")),
        transaction_type_raw=type_raw, reference=_text(row, "reference"),
    )


def _reason(raw: str) -> AdjustmentReason:
    code = raw.strip().upper()
    if code in REASON_CODES:
        return REASON_CODES[code]
    try:
        return AdjustmentReason(code)
    except ValueError:
        raise BadRow(f"reason {raw!r} is not a known WMS reason code "
                     f"({', '.join(sorted(REASON_CODES))}) or canonical reason; add it to "
                     "REASON_CODES in connectors/wms_feed/mapping.py", Category.UNKNOWN_CODE
                     ) from None


def _count(row: Mapping[str, Any], envelope: dict[str, Any]) -> InventorySnapshot:
    uom = _text(row, "uom")
    quantities = {"ON_HAND": Quantity(value=_decimal(row, "qty"), uom=uom)}
    for column, kind in (("available", "AVAILABLE"), ("allocated", "ALLOCATED"),
                         ("on_hold", "ON_HOLD")):
        if _text(row, column) is not None:
            quantities[kind] = Quantity(value=_decimal(row, column), uom=uom)
    return InventorySnapshot(
        **envelope, sku=_text(row, "sku"), location=_text(row, "site"),
        snapshot_id=_text(row, "record_id"), as_of=envelope["occurred_at"],
        as_of_offset_minutes=envelope["occurred_at_offset_minutes"], item=_item(row),
        quantities=quantities, is_full=True, report_type_raw="COUNT",
    )


def _receipt(row: Mapping[str, Any], envelope: dict[str, Any]) -> GoodsReceipt:
    condition_raw = _text(row, "condition")
    try:
        condition = ReceiptCondition((condition_raw or "GOOD").upper())
    except ValueError:
        raise BadRow(f"condition {condition_raw!r} is not GOOD, DAMAGED, OVER or SHORT",
                     Category.UNKNOWN_CODE) from None
    qty = _decimal(row, "qty")
    if qty < 0:
        raise BadRow(f"qty {row['qty']!r} of a RECEIPT is negative; correct a receipt with a "
                     "MOVEMENT of type ADJUSTMENT")
    return GoodsReceipt(
        **envelope, sku=_text(row, "sku"), location=_text(row, "site"),
        receipt_id=_text(row, "record_id"),
        site=LocationRef(site_id=_text(row, "site"), sublocation=_text(row, "sublocation")),
        asn_id=_text(row, "asn_id"), po_number=_text(row, "po_number"),
        lines=(ReceiptLine(item=_item(row), received_qty=Quantity(value=qty,
                                                                  uom=_text(row, "uom")),
                           lot=_text(row, "lot"), condition=condition,
                           condition_raw=condition_raw),),
    )


def _text(row: Mapping[str, Any], column: str) -> str | None:
    value = row.get(column)
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _decimal(row: Mapping[str, Any], column: str) -> Decimal:
    raw = row.get(column)
    try:
        number = Decimal(str(raw).strip()) if not isinstance(raw, bool) \
            else None
    except InvalidOperation:
        number = None
    if number is None or not number.is_finite():
        raise BadRow(f"{column} {raw!r} is not a number (write e.g. 12 or -3.5)")
    return number


def _timestamp(row: Mapping[str, Any], column: str) -> datetime:
    raw = _text(row, column)
    try:
        parsed = datetime.fromisoformat(str(raw))
    except ValueError:
        raise BadRow(f"{column} {raw!r} is not an ISO-8601 date-time "
                     "(write e.g. 2026-03-02T14:05:00-05:00)") from None
    if parsed.tzinfo is None:
        raise BadRow(f"{column} {raw!r} has no UTC offset (write e.g. "
                     "2026-03-02T14:05:00-05:00 or ...Z)")
    return parsed
