"""Inventory events (backbone.inventory): receipts, movements, snapshots, positions, breaks."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from backbone.events.common import ItemRef, LocationRef, Quantity, SourceSystem
from backbone.events.envelope import Event
from backbone.events.values import CanonicalRecord, Int32, QuantityDecimal, UtcDatetime


class AdjustmentReason(StrEnum):
    """Why stock moved (canonical form of X12 181, W1901)."""

    CYCLE_COUNT = "CYCLE_COUNT"
    FOUND = "FOUND"
    BOOK_ADJUSTMENT = "BOOK_ADJUSTMENT"
    RECEIPT_CORRECTION = "RECEIPT_CORRECTION"
    SHIPMENT_CORRECTION = "SHIPMENT_CORRECTION"
    DAMAGE = "DAMAGE"
    REWORK = "REWORK"
    WRITE_OFF = "WRITE_OFF"
    EXPIRY = "EXPIRY"
    QUALITY_HOLD = "QUALITY_HOLD"
    STATUS_CHANGE = "STATUS_CHANGE"
    ITEM_RECLASS = "ITEM_RECLASS"
    OWNERSHIP_CHANGE = "OWNERSHIP_CHANGE"
    TRANSFER = "TRANSFER"
    KITTING = "KITTING"
    RECEIPT = "RECEIPT"
    SHIPMENT = "SHIPMENT"
    OTHER = "OTHER"
    UNKNOWN = "UNKNOWN"


class DiscrepancyStatus(StrEnum):
    """Whether a stock discrepancy was opened or resolved."""

    BREAK = "BREAK"
    CLEARED = "CLEARED"
    UNKNOWN = "UNKNOWN"


class MovementType(StrEnum):
    """Kind of stock movement."""

    RECEIPT = "RECEIPT"
    ISSUE = "ISSUE"
    TRANSFER = "TRANSFER"
    ADJUSTMENT = "ADJUSTMENT"
    STATUS_CHANGE = "STATUS_CHANGE"
    RECLASS = "RECLASS"
    UNKNOWN = "UNKNOWN"


class ReceiptCondition(StrEnum):
    """Condition of received goods (W13, RCD, WMS receipt status)."""

    GOOD = "GOOD"
    DAMAGED = "DAMAGED"
    OVER = "OVER"
    SHORT = "SHORT"
    UNKNOWN = "UNKNOWN"


class StockStatus(StrEnum):
    """Status of stock within a site."""

    AVAILABLE = "AVAILABLE"
    ON_HOLD = "ON_HOLD"
    DAMAGED = "DAMAGED"
    QUALITY_CONTROL = "QUALITY_CONTROL"
    ALLOCATED = "ALLOCATED"
    UNKNOWN = "UNKNOWN"


class ReceiptLine(CanonicalRecord):
    """Received quantity of one item, lot and condition."""

    RECORD_NAME: ClassVar[str] = "backbone.inventory.ReceiptLine"

    line_ref: str | None = None
    item: ItemRef
    received_qty: Quantity
    lot: str | None = None
    condition: ReceiptCondition
    condition_raw: str | None = None
    sscc: tuple[str, ...] = ()


class GoodsReceipt(Event):
    """Goods received at one of our sites (WMS, X12 944/861); one event per SKU of a receipt
    document. Topic inventory.receipt.v1, key <sku>@<location>.
    """

    RECORD_NAME: ClassVar[str] = "backbone.inventory.GoodsReceipt"

    sku: str
    location: str
    receipt_id: str
    site: LocationRef | None = None
    asn_id: str | None = None
    po_number: str | None = None
    depositor_order: str | None = None
    lines: tuple[ReceiptLine, ...] = ()


class InventoryDiscrepancy(Event):
    """A stock break between two systems beyond tolerance, or its clearing (output of
    stock_reconciliation). Topic inventory.discrepancy.v1, key <sku>@<location>.
    """

    RECORD_NAME: ClassVar[str] = "backbone.inventory.InventoryDiscrepancy"

    sku: str
    location: str
    discrepancy_id: str
    status: DiscrepancyStatus
    uom: str
    expected_on_hand: QuantityDecimal
    reported_on_hand: QuantityDecimal
    in_transit: QuantityDecimal
    delta: QuantityDecimal
    tolerance: QuantityDecimal
    reporting_system: SourceSystem
    compared_system: SourceSystem
    snapshot_id: str | None = None
    opened_at: UtcDatetime
    cleared_at: UtcDatetime | None = None


class InventoryMovement(Event):
    """A signed change of stock of one SKU at one site (WMS, X12 947). Topic inventory.movement.v1,
    key <sku>@<location>.
    """

    RECORD_NAME: ClassVar[str] = "backbone.inventory.InventoryMovement"

    sku: str
    location: str
    movement_id: str
    movement_type: MovementType
    reason: AdjustmentReason
    reason_raw: str | None = None
    item: ItemRef
    sublocation: str | None = None
    lot: str | None = None
    qty_delta: Quantity
    from_status: StockStatus | None = None
    to_status: StockStatus | None = None
    transaction_type_raw: str | None = None
    to_location: str | None = None
    reference: str | None = None


class InventoryPosition(Event):
    """Expected stock of one SKU at one site: last snapshot plus later movements, compared with the
    other system (output of stock_reconciliation). Topic inventory.position.v1, key
    <sku>@<location>.
    """

    RECORD_NAME: ClassVar[str] = "backbone.inventory.InventoryPosition"

    sku: str
    location: str
    uom: str
    expected_on_hand: QuantityDecimal
    reported_on_hand: QuantityDecimal | None = None
    in_transit: QuantityDecimal
    delta: QuantityDecimal | None = None
    tolerance: QuantityDecimal
    reporting_system: SourceSystem
    compared_system: SourceSystem
    basis_snapshot_id: str | None = None
    basis_as_of: UtcDatetime | None = None
    movements_applied: Int32 = 0
    open_break: bool = False


class InventorySnapshot(Event):
    """Stock of one SKU at one site as reported by a system at a point in time (ERP, WMS, X12 846);
    replaces, never increments. Topic inventory.snapshot.v1, key <sku>@<location>.
    """

    RECORD_NAME: ClassVar[str] = "backbone.inventory.InventorySnapshot"

    sku: str
    location: str
    snapshot_id: str | None = None
    as_of: UtcDatetime
    as_of_offset_minutes: Int32 | None = None
    item: ItemRef
    quantities: dict[str, Quantity]
    is_full: bool = True
    report_type_raw: str | None = None
