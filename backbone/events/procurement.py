"""Procurement events (backbone.procurement): orders, acknowledgements, ship notices, status."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import ClassVar

from pydantic import Field

from backbone.events.common import (
    BusinessDate,
    CarrierRef,
    HandlingUnit,
    ItemRef,
    Lot,
    PartyRef,
    Quantity,
)
from backbone.events.envelope import Event
from backbone.events.values import (
    CanonicalRecord,
    Int32,
    MoneyDecimal,
    QuantityDecimal,
    UtcDatetime,
)


class AckType(StrEnum):
    """Header-level acknowledgement of a purchase order (canonical form of X12 587, BAK02/BCA02)."""

    ACCEPTED = "ACCEPTED"
    ACCEPTED_WITH_CHANGES = "ACCEPTED_WITH_CHANGES"
    ON_HOLD = "ON_HOLD"
    REJECTED = "REJECTED"
    REJECTED_COUNTEROFFER = "REJECTED_COUNTEROFFER"
    UNKNOWN = "UNKNOWN"


class LineAckStatus(StrEnum):
    """Supplier's answer for (part of) a purchase order line (canonical form of X12 668, ACK01)."""

    ACCEPTED = "ACCEPTED"
    ACCEPTED_WITH_CHANGES = "ACCEPTED_WITH_CHANGES"
    ACCEPTED_PENDING = "ACCEPTED_PENDING"
    BACKORDERED = "BACKORDERED"
    PARTIALLY_BACKORDERED = "PARTIALLY_BACKORDERED"
    ON_HOLD = "ON_HOLD"
    REJECTED = "REJECTED"
    CANCELLED = "CANCELLED"
    UNKNOWN = "UNKNOWN"


class LineChangeType(StrEnum):
    """What happened to a purchase order line (canonical form of X12 670, POC02); ADD for lines of
    an original order.
    """

    ADD = "ADD"
    CHANGE = "CHANGE"
    QUANTITY_CHANGE = "QUANTITY_CHANGE"
    PRICE_CHANGE = "PRICE_CHANGE"
    PRICE_AND_QUANTITY_CHANGE = "PRICE_AND_QUANTITY_CHANGE"
    DATE_CHANGE = "DATE_CHANGE"
    QUANTITY_AND_DATE_CHANGE = "QUANTITY_AND_DATE_CHANGE"
    PRICE_AND_DATE_CHANGE = "PRICE_AND_DATE_CHANGE"
    ITEM_SUBSTITUTION = "ITEM_SUBSTITUTION"
    DELETE = "DELETE"
    REPLACE = "REPLACE"
    NO_CHANGE = "NO_CHANGE"
    OTHER = "OTHER"
    UNKNOWN = "UNKNOWN"


class OrderLineState(StrEnum):
    """Fulfillment state of a purchase order line, derived from its quantities. NOT_ORDERED:
    the line is on no purchase order seen; it exists only because another document named it.
    """

    OPEN = "OPEN"
    ACKNOWLEDGED = "ACKNOWLEDGED"
    ACCEPTED = "ACCEPTED"
    ACCEPTED_WITH_CHANGES = "ACCEPTED_WITH_CHANGES"
    BACKORDERED = "BACKORDERED"
    REJECTED = "REJECTED"
    PARTIALLY_SHIPPED = "PARTIALLY_SHIPPED"
    SHIPPED = "SHIPPED"
    PARTIALLY_RECEIVED = "PARTIALLY_RECEIVED"
    RECEIVED = "RECEIVED"
    INVOICED = "INVOICED"
    CLOSED = "CLOSED"
    CANCELLED = "CANCELLED"
    NOT_ORDERED = "NOT_ORDERED"
    UNKNOWN = "UNKNOWN"


class PurchaseOrderPurpose(StrEnum):
    """Why a purchase order document was sent (canonical form of X12 353, BEG01/BCH01)."""

    ORIGINAL = "ORIGINAL"
    CHANGE = "CHANGE"
    REPLACE = "REPLACE"
    CANCEL = "CANCEL"
    UNKNOWN = "UNKNOWN"


class AsnItem(CanonicalRecord):
    """An item shipped against an order (LIN/SN1)."""

    RECORD_NAME: ClassVar[str] = "backbone.procurement.AsnItem"

    hl_id: str | None = None
    line_ref: str | None = None
    item: ItemRef
    shipped_qty: Quantity
    ordered_qty: Quantity | None = None
    line_status_raw: str | None = None
    lots: tuple[Lot, ...] = ()
    weight: Quantity | None = None


class AsnOrder(CanonicalRecord):
    """One purchase order inside an ASN (order level, PRF)."""

    RECORD_NAME: ClassVar[str] = "backbone.procurement.AsnOrder"

    hl_id: str | None = None
    po_number: str
    po_date: date | None = None
    handling_units: tuple[HandlingUnit, ...] = ()
    items: tuple[AsnItem, ...] = ()
    carrier: CarrierRef | None = None
    lading_quantity: Quantity | None = None
    gross_weight: Quantity | None = None


class HierarchyNode(CanonicalRecord):
    """One HL segment of an ASN, kept so the hierarchy round-trips losslessly."""

    RECORD_NAME: ClassVar[str] = "backbone.procurement.HierarchyNode"

    hl_id: str
    parent_id: str | None = None
    level_raw: str


class AdvanceShipNotice(Event):
    """A supplier's advance ship notice (X12 856, supplier API). Topic procurement.asn.v1, key
    <buyer>|<po_number> of the first order it covers.
    """

    RECORD_NAME: ClassVar[str] = "backbone.procurement.AdvanceShipNotice"

    buyer: str
    po_number: str
    asn_id: str
    purpose_raw: str | None = None
    shipped_at: UtcDatetime | None = None
    shipped_at_offset_minutes: Int32 | None = None
    eta: UtcDatetime | None = None
    hierarchy_structure_raw: str | None = None
    carrier: CarrierRef | None = None
    lading_quantity: Quantity | None = None
    gross_weight: Quantity | None = None
    parties: tuple[PartyRef, ...] = ()
    orders: tuple[AsnOrder, ...] = ()
    hierarchy: tuple[HierarchyNode, ...] = ()


class LineAck(CanonicalRecord):
    """One acknowledgement of a line (ACK segment); a line may carry several when its quantity is
    split.
    """

    RECORD_NAME: ClassVar[str] = "backbone.procurement.LineAck"

    status: LineAckStatus
    status_raw: str | None = None
    quantity: Quantity | None = None
    promised_ship_date: date | None = None
    promised_delivery_date: date | None = None
    new_unit_price: MoneyDecimal | None = None
    substitute_item: ItemRef | None = None
    reason_raw: str | None = None
    dates: tuple[BusinessDate, ...] = ()


class OrderLineFlags(CanonicalRecord):
    """Conditions on a purchase order line that need attention."""

    RECORD_NAME: ClassVar[str] = "backbone.procurement.OrderLineFlags"

    ack_overdue: bool = False
    over_shipped: bool = False
    asn_receipt_mismatch: bool = False
    unknown_order: bool = False
    not_on_order: bool = False
    shipped_after_cancellation: bool = False
    received_after_cancellation: bool = False
    over_received: bool = False
    ambiguous_line: bool = False


class OrderLineProgress(CanonicalRecord):
    """Quantities and derived state of one purchase order line, in its base unit."""

    RECORD_NAME: ClassVar[str] = "backbone.procurement.OrderLineProgress"

    line_number: str
    sku: str | None = None
    uom: str
    ordered_qty: QuantityDecimal
    acked_qty_by_status: dict[str, QuantityDecimal] = Field(default_factory=dict)
    shipped_qty: QuantityDecimal
    received_qty: QuantityDecimal
    invoiced_qty: QuantityDecimal
    state: OrderLineState
    flags: OrderLineFlags


class OrderLineStatus(Event):
    """Fulfillment status of every line of a purchase order (output of the order_fulfillment
    processor). Topic procurement.order-line-status.v1, key <buyer>|<po_number>.
    """

    RECORD_NAME: ClassVar[str] = "backbone.procurement.OrderLineStatus"

    buyer: str
    po_number: str
    order_state: OrderLineState
    lines: tuple[OrderLineProgress, ...] = ()
    ack_due_at: UtcDatetime | None = None


class Pack(CanonicalRecord):
    """Packing of an ordered item (PO4), used to convert between case and each."""

    RECORD_NAME: ClassVar[str] = "backbone.procurement.Pack"

    pack: Int32 | None = None
    size: QuantityDecimal | None = None
    size_uom: str | None = None


class PurchaseOrderLine(CanonicalRecord):
    """One line of a purchase order or of a change to it (PO1 / POC)."""

    RECORD_NAME: ClassVar[str] = "backbone.procurement.PurchaseOrderLine"

    line_number: str
    change_type: LineChangeType
    change_type_raw: str | None = None
    item: ItemRef
    ordered_qty: Quantity
    qty_left_to_receive: Quantity | None = None
    unit_price: MoneyDecimal | None = None
    price_basis_raw: str | None = None
    pack: Pack | None = None
    dates: tuple[BusinessDate, ...] = ()
    ordered_qty_stated: bool = True


class PurchaseOrderChanged(Event):
    """A purchase order as issued or changed by the buyer (ERP outbox, X12 850/860). Topic
    procurement.purchase-order.v1, key <buyer>|<po_number>.
    """

    RECORD_NAME: ClassVar[str] = "backbone.procurement.PurchaseOrderChanged"

    buyer: str
    po_number: str
    po_release: str | None = None
    po_date: date | None = None
    purpose: PurchaseOrderPurpose
    purpose_raw: str | None = None
    change_sequence: str | None = None
    po_type_raw: str | None = None
    currency: str | None = None
    parties: tuple[PartyRef, ...] = ()
    dates: tuple[BusinessDate, ...] = ()
    lines: tuple[PurchaseOrderLine, ...] = ()
    total_amount: MoneyDecimal | None = None


class SupplierAckLine(CanonicalRecord):
    """A purchase order line as acknowledged by the supplier."""

    RECORD_NAME: ClassVar[str] = "backbone.procurement.SupplierAckLine"

    line_number: str
    item: ItemRef
    ordered_qty: Quantity | None = None
    unit_price: MoneyDecimal | None = None
    acks: tuple[LineAck, ...] = ()
    change_type: LineChangeType | None = None
    change_type_raw: str | None = None
    qty_left_to_receive: Quantity | None = None
    dates: tuple[BusinessDate, ...] = ()


class SupplierAcknowledgement(Event):
    """A supplier's acknowledgement of a purchase order or change (X12 855/865, supplier API).
    Topic procurement.supplier-ack.v1, key <buyer>|<po_number>.
    """

    RECORD_NAME: ClassVar[str] = "backbone.procurement.SupplierAcknowledgement"

    buyer: str
    po_number: str
    po_date: date | None = None
    ack_type: AckType
    ack_type_raw: str | None = None
    ack_date: date | None = None
    seller_order_number: str | None = None
    change_sequence: str | None = None
    parties: tuple[PartyRef, ...] = ()
    lines: tuple[SupplierAckLine, ...] = ()
    dates: tuple[BusinessDate, ...] = ()
