"""Order-line fulfillment as a pure reducer: (state, event) -> (state, OrderLineStatus | None).

CANONICAL_MODEL.md, order-line state: per PO line keep ordered, acknowledged (by status),
shipped, received and invoiced quantities in the base unit (``Quantity.base_value``, else the
value as stated); the state is DERIVED from them, never mapped:

    CANCELLED  cancel change, deleted line (850/860 POC02 DI or CF, or an 865 line answering
               such a deletion without rejecting it), or an acknowledgement rejecting the
               whole line (a rejected deletion keeps the line)
    INVOICED   received >= ordered and invoiced >= ordered
    RECEIVED / PARTIALLY_RECEIVED   received >= ordered / received > 0
    SHIPPED / PARTIALLY_SHIPPED     shipped >= ordered / shipped > 0
    ACCEPTED | ACCEPTED_WITH_CHANGES | BACKORDERED | ACKNOWLEDGED   by the acknowledged statuses
    OPEN       nothing else yet

Flags: ``ack_overdue`` when no acknowledgement came within the SLA after the order's
``occurred_at``, judged by EVENT time (the latest event time seen for the PO, never the wall
clock, so a replay gives the same answer); ``over_shipped`` when shipped > ordered;
``asn_receipt_mismatch`` when what receipts of an ASN count differs from what that ASN shipped.
Exceptions (processors/order_fulfillment/README.md): ``unknown_order`` (no order seen for the
PO), ``not_on_order`` (the order does not list the line), ``shipped_after_cancellation`` /
``received_after_cancellation`` (quantities on a CANCELLED line), ``over_received``,
``ambiguous_line`` (one document put two different items on one derived line key). A line no
order listed is NOT_ORDERED, never OPEN or PARTIALLY_SHIPPED.

Robust to real feeds: events are de-duplicated by ``event_id``; an ASN, a receipt or an invoice
sent again REPLACES its earlier quantities (kept per asn_id / receipt_id / invoice_number); an
acknowledgement older than the one applied to a line is ignored; events before the PO itself are
kept (lines appear with ordered 0) and nothing is emitted until the buyer is known. State is a
JSON dict.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from backbone.errors import MissingReferenceError
from backbone.events import Event
from backbone.events.common import Correlation, ItemRef, Quantity, Source, SourceSystem
from backbone.events.finance import Invoice
from backbone.events.inventory import GoodsReceipt
from backbone.events.procurement import (
    AdvanceShipNotice,
    LineAckStatus,
    LineChangeType,
    OrderLineFlags,
    OrderLineProgress,
    OrderLineState,
    OrderLineStatus,
    PurchaseOrderChanged,
    PurchaseOrderPurpose,
    SupplierAcknowledgement,
)

MAX_SEEN = 512
_NAMESPACE = uuid.UUID("3b0f6a2e-8f7c-4d1b-a6a5-0c2f4f1e9d21")
_ZERO = Decimal(0)
_PROGRESS_RANK = {
    OrderLineState.OPEN: 0, OrderLineState.ACKNOWLEDGED: 1, OrderLineState.ACCEPTED: 1,
    OrderLineState.ACCEPTED_WITH_CHANGES: 1, OrderLineState.BACKORDERED: 1,
    OrderLineState.PARTIALLY_SHIPPED: 2, OrderLineState.SHIPPED: 3,
    OrderLineState.PARTIALLY_RECEIVED: 4, OrderLineState.RECEIVED: 5,
    OrderLineState.INVOICED: 6,
}


@dataclass(frozen=True)
class FulfillmentRules:
    ack_sla: timedelta = timedelta(hours=48)


def base(quantity: Quantity | None) -> Decimal:
    """The quantity in its base unit (as stated when no conversion was given)."""
    if quantity is None:
        return _ZERO
    return quantity.base_value if quantity.base_value is not None else quantity.value


def base_uom(quantity: Quantity) -> str:
    return quantity.base_uom or quantity.uom


def empty_state(po_number: str) -> dict[str, Any]:
    return {"po": po_number, "buyer": None, "ordered_at": None, "latest_at": None,
            "cancelled": False, "lines": {}, "asns": {}, "receipts": {}, "invoices": {},
            "seen": []}


def _line(state: dict[str, Any], number: str) -> dict[str, Any]:
    line: dict[str, Any] = state["lines"].setdefault(number, {
        "sku": None, "uom": "EA", "ordered": "0", "acks": {}, "ack_at": None,
        "cancelled": False, "rejected": False,
    })
    return line


def apply(state: dict[str, Any] | None, po_number: str, event: Event,
          rules: FulfillmentRules) -> tuple[dict[str, Any], OrderLineStatus | None]:
    """Apply one event to the PO's state; the new state and the status to publish (if any)."""
    current = _copy(state) if state else empty_state(po_number)
    if event.event_id in current["seen"]:
        return current, None
    current["seen"] = [*current["seen"], event.event_id][-MAX_SEEN:]
    at = event.occurred_at
    if current["latest_at"] is None or at.isoformat() > current["latest_at"]:
        current["latest_at"] = at.isoformat()
    if isinstance(event, PurchaseOrderChanged):
        _order(current, event)
    elif isinstance(event, SupplierAcknowledgement):
        current["buyer"] = current["buyer"] or event.buyer
        _acknowledgement(current, event)
    elif isinstance(event, AdvanceShipNotice):
        current["buyer"] = current["buyer"] or event.buyer
        _ship_notice(current, event, po_number)
    elif isinstance(event, GoodsReceipt):
        if not event.po_number:
            raise MissingReferenceError(
                f"goods receipt {event.receipt_id} ({event.sku}@{event.location}) names no "
                "po_number; the order it fulfils cannot be found. Have the WMS send the PO "
                "number with the receipt, then replay the dead letter"
            )
        _receipt(current, event)
    elif isinstance(event, Invoice):
        current["buyer"] = current["buyer"] or event.buyer
        _invoice(current, event)
    else:
        raise TypeError(f"order_fulfillment does not handle {event.event_type_name()}")
    return current, status_of(current, event, rules)


def _copy(state: dict[str, Any]) -> dict[str, Any]:
    return {
        **state,
        "lines": {number: {**line, "acks": dict(line["acks"])}
                  for number, line in state["lines"].items()},
        "asns": {asn: dict(lines) for asn, lines in state["asns"].items()},
        "receipts": {rid: dict(lines) for rid, lines in state["receipts"].items()},
        # states stored before invoices were tracked have no "invoices"
        "invoices": {number: dict(lines)
                     for number, lines in state.get("invoices", {}).items()},
    }


def _order(state: dict[str, Any], event: PurchaseOrderChanged) -> None:
    state["buyer"] = event.buyer
    if event.purpose in (PurchaseOrderPurpose.ORIGINAL, PurchaseOrderPurpose.REPLACE) or (
            state["ordered_at"] is None):
        state["ordered_at"] = event.occurred_at.isoformat()
    if event.purpose is PurchaseOrderPurpose.CANCEL:
        state["cancelled"] = True
        return
    if event.purpose is PurchaseOrderPurpose.REPLACE:
        listed = {line.line_number for line in event.lines}
        for number, line in state["lines"].items():
            if number not in listed:
                line["cancelled"] = True
    for po_line in event.lines:
        line = _line(state, po_line.line_number)
        line["on_order"] = True
        if po_line.change_type is LineChangeType.DELETE:
            line["cancelled"] = True
            continue
        line["cancelled"] = False
        line["sku"] = po_line.item.sku or line["sku"]
        if po_line.ordered_qty_stated:  # a price change or reschedule keeps the quantity
            line["uom"] = base_uom(po_line.ordered_qty)
            line["ordered"] = str(base(po_line.ordered_qty))


def _acknowledgement(state: dict[str, Any], event: SupplierAcknowledgement) -> None:
    at = event.occurred_at.isoformat()
    for ack_line in event.lines:
        line = _line(state, ack_line.line_number)
        if line["ack_at"] is not None and at < line["ack_at"]:
            continue  # an older answer than the one applied
        by_status: dict[str, Decimal] = {}
        for ack in ack_line.acks:
            qty = base(ack.quantity) if ack.quantity is not None else Decimal(line["ordered"])
            by_status[ack.status.value] = by_status.get(ack.status.value, _ZERO) + qty
        line["acks"] = {status: str(qty) for status, qty in by_status.items()}
        line["ack_at"] = at
        statuses = {ack.status for ack in ack_line.acks}
        line["rejected"] = bool(statuses) and statuses <= {LineAckStatus.REJECTED,
                                                           LineAckStatus.CANCELLED}
        # An 865 line answering a deletion: accepting it ends the line; rejecting it means
        # the supplier refuses the deletion, which keeps the line alive, not cancelled.
        if ack_line.change_type is LineChangeType.DELETE:
            line["rejected"] = False
            if LineAckStatus.REJECTED not in statuses:
                line["cancelled"] = True
        line["sku"] = line["sku"] or ack_line.item.sku


def _ship_notice(state: dict[str, Any], event: AdvanceShipNotice, po_number: str) -> None:
    shipped: dict[str, str] = {}
    derived = _Derived(state)
    for order in event.orders:
        if order.po_number != po_number:
            continue
        for item in order.items:
            number = derived.match(item.line_ref, item.item.sku, item.item)
            shipped[number] = str(Decimal(shipped.get(number, "0")) + base(item.shipped_qty))
    state["asns"][event.asn_id] = shipped  # a resent ASN replaces its earlier quantities


def _receipt(state: dict[str, Any], event: GoodsReceipt) -> None:
    received: dict[str, str] = {}
    derived = _Derived(state)
    for receipt_line in event.lines:
        number = derived.match(receipt_line.line_ref, receipt_line.item.sku or event.sku,
                               receipt_line.item)
        received[number] = str(Decimal(received.get(number, "0")) + base(receipt_line.received_qty))
    # one receipt document is one event per SKU: key by receipt and SKU
    state["receipts"][f"{event.receipt_id}|{event.sku}"] = {"asn": event.asn_id, **received}


def _invoice(state: dict[str, Any], event: Invoice) -> None:
    invoiced: dict[str, str] = {}
    derived = _Derived(state)
    for invoice_line in event.lines:
        number = derived.match(invoice_line.line_number, invoice_line.item.sku,
                               invoice_line.item)
        invoiced[number] = str(Decimal(invoiced.get(number, "0"))
                               + base(invoice_line.invoiced_qty))
    state["invoices"][event.invoice_number] = invoiced  # a resent invoice replaces itself


def _match_line(state: dict[str, Any], line_ref: str | None, sku: str | None) -> str:
    if line_ref and line_ref in state["lines"]:
        return line_ref
    lines: dict[str, dict[str, Any]] = state["lines"]
    for known, line in lines.items():
        if sku and line["sku"] == sku:
            return known
    number = line_ref or f"sku:{sku}"
    _line(state, number)["sku"] = sku
    return number


class _Derived:
    """Matches one document's items to lines, and flags a line ``ambiguous`` when two items
    of the document land on it without naming it by their own line reference (matched by
    SKU, or keyed ``sku:<sku>``): their quantities are added together, and nothing tells
    whether they belong to one line or to several."""

    def __init__(self, state: dict[str, Any]) -> None:
        self._state = state
        self._derived: set[str] = set()

    def match(self, line_ref: str | None, sku: str | None, item: ItemRef) -> str:
        number = _match_line(self._state, line_ref, sku)
        if line_ref and line_ref == number:
            return number
        if number in self._derived:
            self._state["lines"][number]["ambiguous"] = True
        self._derived.add(number)
        return number


def _sum(parts: Any, number: str) -> Decimal:
    return sum((Decimal(lines[number]) for lines in parts if number in lines), _ZERO)


def on_order(line: dict[str, Any]) -> bool:
    """Whether an order listed the line (states stored before this was kept: ordered > 0)."""
    return bool(line.get("on_order", Decimal(line["ordered"]) > 0))


def line_state(line: dict[str, Any], ordered: Decimal, shipped: Decimal,
               received: Decimal, po_cancelled: bool,
               invoiced: Decimal = _ZERO) -> OrderLineState:
    if po_cancelled or line["cancelled"] or line["rejected"]:
        return OrderLineState.CANCELLED
    if not on_order(line):
        return OrderLineState.NOT_ORDERED
    if invoiced >= ordered > 0 and received >= ordered:
        return OrderLineState.INVOICED
    if received > 0:
        return OrderLineState.RECEIVED if received >= ordered > 0 else (
            OrderLineState.PARTIALLY_RECEIVED)
    if shipped > 0:
        return OrderLineState.SHIPPED if shipped >= ordered > 0 else (
            OrderLineState.PARTIALLY_SHIPPED)
    statuses = set(line["acks"])
    if not statuses:
        return OrderLineState.OPEN
    if statuses == {LineAckStatus.ACCEPTED.value}:
        return OrderLineState.ACCEPTED
    if LineAckStatus.ACCEPTED_WITH_CHANGES.value in statuses:
        return OrderLineState.ACCEPTED_WITH_CHANGES
    if statuses & {LineAckStatus.BACKORDERED.value, LineAckStatus.PARTIALLY_BACKORDERED.value}:
        return OrderLineState.BACKORDERED
    return OrderLineState.ACKNOWLEDGED


def _mismatch(state: dict[str, Any], number: str) -> bool:
    """Receipts of an ASN count a different quantity than that ASN shipped for the line."""
    by_asn: dict[str, Decimal] = {}
    for receipt in state["receipts"].values():
        asn = receipt.get("asn")
        if asn and number in receipt:
            by_asn[asn] = by_asn.get(asn, _ZERO) + Decimal(receipt[number])
    for asn, received in by_asn.items():
        shipped = state["asns"].get(asn)
        if shipped is not None and Decimal(shipped.get(number, "0")) != received:
            return True
    return False


def status_of(state: dict[str, Any], event: Event,
              rules: FulfillmentRules) -> OrderLineStatus | None:
    """The OrderLineStatus of the PO now (None until the buyer is known)."""
    if state["buyer"] is None:
        return None
    ordered_at = datetime.fromisoformat(state["ordered_at"]) if state["ordered_at"] else None
    due = ordered_at + rules.ack_sla if ordered_at else None
    latest = datetime.fromisoformat(state["latest_at"])
    receipt_lines = [{k: v for k, v in r.items() if k != "asn"}
                     for r in state["receipts"].values()]
    progress = []
    for number in sorted(state["lines"], key=_line_sort):
        line = state["lines"][number]
        ordered = Decimal(line["ordered"])
        shipped = _sum(state["asns"].values(), number)
        received = _sum(receipt_lines, number)
        invoiced = _sum(state["invoices"].values(), number)
        current = line_state(line, ordered, shipped, received, state["cancelled"], invoiced)
        cancelled = current is OrderLineState.CANCELLED
        progress.append(OrderLineProgress(
            line_number=number, sku=line["sku"], uom=line["uom"], ordered_qty=ordered,
            acked_qty_by_status={s: Decimal(q) for s, q in sorted(line["acks"].items())},
            shipped_qty=shipped, received_qty=received, invoiced_qty=invoiced, state=current,
            flags=OrderLineFlags(
                ack_overdue=(due is not None and not line["acks"] and latest > due
                             and current is not OrderLineState.CANCELLED),
                over_shipped=ordered > 0 and shipped > ordered,
                asn_receipt_mismatch=_mismatch(state, number),
                unknown_order=state["ordered_at"] is None,
                not_on_order=state["ordered_at"] is not None and not on_order(line),
                shipped_after_cancellation=cancelled and shipped > 0,
                received_after_cancellation=cancelled and received > 0,
                over_received=ordered > 0 and received > ordered,
                ambiguous_line=bool(line.get("ambiguous", False)),
            ),
        ))
    return OrderLineStatus(
        event_id=str(uuid.uuid5(_NAMESPACE, f"{state['buyer']}|{state['po']}|{event.event_id}")),
        occurred_at=event.occurred_at,
        recorded_at=event.recorded_at,
        source=Source(system=SourceSystem.BACKBONE, instance="order-fulfillment"),
        correlation=Correlation(po_number=state["po"], causation_id=event.event_id),
        idempotency_key=f"order-fulfillment:{state['buyer']}|{state['po']}:{event.event_id}",
        buyer=state["buyer"], po_number=state["po"],
        order_state=order_state([line.state for line in progress]),
        lines=tuple(progress), ack_due_at=due,
    )


def order_state(states: list[OrderLineState]) -> OrderLineState:
    """The least advanced state of the ordered lines still alive; CANCELLED when none is;
    NOT_ORDERED when the only lines are ones no order listed (an unknown PO)."""
    alive = [state for state in states
             if state not in (OrderLineState.CANCELLED, OrderLineState.NOT_ORDERED)]
    if not alive:
        if OrderLineState.NOT_ORDERED in states:
            return OrderLineState.NOT_ORDERED
        return OrderLineState.CANCELLED if states else OrderLineState.OPEN
    return min(alive, key=lambda state: _PROGRESS_RANK.get(state, 0))


def _line_sort(number: str) -> tuple[int, int, str, str]:
    # Numeric line numbers in numeric order, without int(): it refuses '³' (which isdigit()
    # accepts) and strings past 4,300 digits, and line numbers are the partner's text.
    if number.isascii() and number.isdigit():
        digits = number.lstrip("0")
        return (0, len(digits), digits, number)
    return (1, 0, "", number)
