"""The order-fulfillment reducer on scripted PO histories: exact statuses after every event."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from backbone.errors import MissingReferenceError
from backbone.events import Event
from backbone.events.common import ItemRef, Quantity
from backbone.events.finance import Invoice, InvoiceLine
from backbone.events.inventory import GoodsReceipt, ReceiptCondition, ReceiptLine
from backbone.events.procurement import (
    AdvanceShipNotice,
    AsnItem,
    AsnOrder,
    LineAck,
    LineAckStatus,
    LineChangeType,
    OrderLineStatus,
    PurchaseOrderChanged,
    PurchaseOrderLine,
    PurchaseOrderPurpose,
    SupplierAckLine,
    SupplierAcknowledgement,
)
from backbone.samples import (
    sample_advance_ship_notice,
    sample_goods_receipt,
    sample_invoice,
    sample_purchase_order_changed,
    sample_supplier_acknowledgement,
)
from processors.order_fulfillment.state import FulfillmentRules, apply

PO = "4500012345"
BUYER = "ACME"
T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
RULES = FulfillmentRules(ack_sla=timedelta(hours=48))
_ids = itertools.count(1)


def _id() -> str:
    return f"00000000-0000-4000-8000-{next(_ids):012d}"


def ea(value: int) -> Quantity:
    return Quantity(value=Decimal(value), uom="EA")


def order(lines: Iterable[tuple[str, str, int]], at: datetime = T0,
          purpose: PurchaseOrderPurpose = PurchaseOrderPurpose.ORIGINAL) -> PurchaseOrderChanged:
    return sample_purchase_order_changed(1).model_copy(update={
        "event_id": _id(), "occurred_at": at, "buyer": BUYER, "po_number": PO,
        "purpose": purpose,
        "lines": tuple(PurchaseOrderLine(line_number=number, change_type=LineChangeType.ADD,
                                         item=ItemRef(sku=sku), ordered_qty=ea(qty))
                       for number, sku, qty in lines)})


def ack(lines: dict[str, list[tuple[LineAckStatus, int | None]]],
        at: datetime) -> SupplierAcknowledgement:
    return sample_supplier_acknowledgement(1).model_copy(update={
        "event_id": _id(), "occurred_at": at, "buyer": BUYER, "po_number": PO,
        "lines": tuple(SupplierAckLine(line_number=number, item=ItemRef(), acks=tuple(
            LineAck(status=status, quantity=None if qty is None else ea(qty))
            for status, qty in acks)) for number, acks in lines.items())})


def asn(asn_id: str, items: dict[str, tuple[str, int]], at: datetime) -> AdvanceShipNotice:
    return sample_advance_ship_notice(1).model_copy(update={
        "event_id": _id(), "occurred_at": at, "buyer": BUYER, "po_number": PO,
        "asn_id": asn_id,
        "orders": (AsnOrder(po_number=PO, items=tuple(
            AsnItem(line_ref=number, item=ItemRef(sku=sku), shipped_qty=ea(qty))
            for number, (sku, qty) in items.items())),)})


def receipt(receipt_id: str, asn_id: str | None, line: str, sku: str,
            parts: list[tuple[ReceiptCondition, int]], at: datetime) -> GoodsReceipt:
    return sample_goods_receipt(1).model_copy(update={
        "event_id": _id(), "occurred_at": at, "po_number": PO, "asn_id": asn_id,
        "receipt_id": receipt_id, "sku": sku,
        "lines": tuple(ReceiptLine(line_ref=line, item=ItemRef(sku=sku), received_qty=ea(qty),
                                   condition=condition) for condition, qty in parts)})


def invoice(number: str, lines: dict[str, tuple[str, int]], at: datetime) -> Invoice:
    return sample_invoice(1).model_copy(update={
        "event_id": _id(), "occurred_at": at, "buyer": BUYER, "po_number": PO,
        "invoice_number": number,
        "lines": tuple(InvoiceLine(line_number=n, item=ItemRef(sku=sku), invoiced_qty=ea(qty),
                                   unit_price=Decimal("1.00"))
                       for n, (sku, qty) in lines.items())})


class Feed:
    """Applies events one after the other, as the processor does for one PO."""

    def __init__(self, rules: FulfillmentRules = RULES) -> None:
        self.state: dict[str, Any] | None = None
        self.rules = rules

    def __call__(self, event: Event) -> OrderLineStatus | None:
        self.state, status = apply(self.state, PO, event, self.rules)
        return status


def view(status: OrderLineStatus | None) -> tuple[str, list[tuple[Any, ...]]] | None:
    """(order state, [(line, state, ordered, acked, shipped, received, invoiced, flags)])."""
    if status is None:
        return None
    return status.order_state.value, [
        (line.line_number, line.state.value, int(line.ordered_qty),
         {s: int(q) for s, q in line.acked_qty_by_status.items()}, int(line.shipped_qty),
         int(line.received_qty), int(line.invoiced_qty),
         "".join(flag for flag, on in (("O", line.flags.ack_overdue),
                                       ("S", line.flags.over_shipped),
                                       ("M", line.flags.asn_receipt_mismatch)) if on))
        for line in status.lines]


A, B, C = "SKU-A", "SKU-B", "SKU-C"
THREE_LINES = [("1", A, 10), ("2", B, 5), ("3", C, 4)]


def test_a_po_from_order_to_invoice_gives_these_statuses_in_turn() -> None:
    feed = Feed()
    h = timedelta(hours=1)

    first = feed(order(THREE_LINES))
    assert view(first) == ("OPEN", [("1", "OPEN", 10, {}, 0, 0, 0, ""),
                                    ("2", "OPEN", 5, {}, 0, 0, 0, ""),
                                    ("3", "OPEN", 4, {}, 0, 0, 0, "")])
    assert first is not None
    assert (first.buyer, first.po_number, first.ack_due_at) == (BUYER, PO, T0 + 48 * h)

    acked = ack({"1": [(LineAckStatus.ACCEPTED, 10)],
                 "2": [(LineAckStatus.ACCEPTED_WITH_CHANGES, 5)],
                 "3": [(LineAckStatus.REJECTED, None)]}, T0 + 2 * h)
    assert view(feed(acked)) == ("ACCEPTED", [
        ("1", "ACCEPTED", 10, {"ACCEPTED": 10}, 0, 0, 0, ""),
        ("2", "ACCEPTED_WITH_CHANGES", 5, {"ACCEPTED_WITH_CHANGES": 5}, 0, 0, 0, ""),
        ("3", "CANCELLED", 4, {"REJECTED": 4}, 0, 0, 0, "")])

    assert view(feed(asn("ASN1", {"1": (A, 6), "2": (B, 5)}, T0 + 24 * h))) == (
        "PARTIALLY_SHIPPED", [
            ("1", "PARTIALLY_SHIPPED", 10, {"ACCEPTED": 10}, 6, 0, 0, ""),
            ("2", "SHIPPED", 5, {"ACCEPTED_WITH_CHANGES": 5}, 5, 0, 0, ""),
            ("3", "CANCELLED", 4, {"REJECTED": 4}, 0, 0, 0, "")])

    assert view(feed(asn("ASN2", {"1": (A, 4)}, T0 + 30 * h)))[1][0] == (  # type: ignore[index]
        "1", "SHIPPED", 10, {"ACCEPTED": 10}, 10, 0, 0, "")

    good = feed(receipt("R1", "ASN1", "1", A, [(ReceiptCondition.GOOD, 6)], T0 + 72 * h))
    assert view(good) == ("SHIPPED", [
        ("1", "PARTIALLY_RECEIVED", 10, {"ACCEPTED": 10}, 10, 6, 0, ""),
        ("2", "SHIPPED", 5, {"ACCEPTED_WITH_CHANGES": 5}, 5, 0, 0, ""),
        ("3", "CANCELLED", 4, {"REJECTED": 4}, 0, 0, 0, "")])

    assert view(feed(receipt("R1", "ASN1", "2", B, [(ReceiptCondition.GOOD, 5)],
                             T0 + 72 * h)))[1][1] == (  # type: ignore[index]
        "2", "RECEIVED", 5, {"ACCEPTED_WITH_CHANGES": 5}, 5, 5, 0, "")

    # ASN2 shipped 4 of line 1, the dock counted 3: short, and flagged
    short = feed(receipt("R2", "ASN2", "1", A, [(ReceiptCondition.SHORT, 3)], T0 + 80 * h))
    assert view(short) == ("PARTIALLY_RECEIVED", [
        ("1", "PARTIALLY_RECEIVED", 10, {"ACCEPTED": 10}, 10, 9, 0, "M"),
        ("2", "RECEIVED", 5, {"ACCEPTED_WITH_CHANGES": 5}, 5, 5, 0, ""),
        ("3", "CANCELLED", 4, {"REJECTED": 4}, 0, 0, 0, "")])

    billed = feed(invoice("INV1", {"1": (A, 9), "2": (B, 5)}, T0 + 96 * h))
    assert view(billed) == ("PARTIALLY_RECEIVED", [
        ("1", "PARTIALLY_RECEIVED", 10, {"ACCEPTED": 10}, 10, 9, 9, "M"),
        ("2", "INVOICED", 5, {"ACCEPTED_WITH_CHANGES": 5}, 5, 5, 5, ""),
        ("3", "CANCELLED", 4, {"REJECTED": 4}, 0, 0, 0, "")])
    assert billed is not None and billed.occurred_at == T0 + 96 * h


def test_a_fully_received_and_invoiced_po_is_invoiced_and_a_resent_invoice_replaces() -> None:
    feed = Feed()
    feed(order([("1", A, 10)]))
    feed(asn("ASN1", {"1": (A, 10)}, T0 + timedelta(days=1)))
    feed(receipt("R1", "ASN1", "1", A, [(ReceiptCondition.GOOD, 8),
                                        (ReceiptCondition.DAMAGED, 2)], T0 + timedelta(days=2)))
    assert view(feed(invoice("INV1", {"1": (A, 4)}, T0 + timedelta(days=3)))) == (
        "RECEIVED", [("1", "RECEIVED", 10, {}, 10, 10, 4, "O")])  # never acknowledged
    assert view(feed(invoice("INV1", {"1": (A, 10)}, T0 + timedelta(days=4)))) == (
        "INVOICED", [("1", "INVOICED", 10, {}, 10, 10, 10, "O")])


def test_a_split_acknowledgement_backorders_the_line() -> None:
    feed = Feed()
    feed(order([("1", A, 10)]))
    status = feed(ack({"1": [(LineAckStatus.ACCEPTED, 6), (LineAckStatus.BACKORDERED, 4)]},
                      T0 + timedelta(hours=1)))
    assert view(status) == ("BACKORDERED", [
        ("1", "BACKORDERED", 10, {"ACCEPTED": 6, "BACKORDERED": 4}, 0, 0, 0, "")])


def test_an_acknowledgement_older_than_the_applied_one_changes_nothing() -> None:
    feed = Feed()
    feed(order([("1", A, 10)]))
    feed(ack({"1": [(LineAckStatus.BACKORDERED, 10)]}, T0 + timedelta(hours=5)))
    stale = feed(ack({"1": [(LineAckStatus.ACCEPTED, 10)]}, T0 + timedelta(hours=1)))
    assert view(stale) == ("BACKORDERED", [("1", "BACKORDERED", 10, {"BACKORDERED": 10},
                                            0, 0, 0, "")])


def test_rejecting_every_line_or_cancelling_the_po_cancels_the_order() -> None:
    feed = Feed()
    feed(order([("1", A, 10), ("2", B, 5)]))
    rejected = feed(ack({"1": [(LineAckStatus.REJECTED, None)],
                         "2": [(LineAckStatus.REJECTED, None)]}, T0 + timedelta(hours=1)))
    assert view(rejected) == ("CANCELLED", [("1", "CANCELLED", 10, {"REJECTED": 10}, 0, 0, 0, ""),
                                            ("2", "CANCELLED", 5, {"REJECTED": 5}, 0, 0, 0, "")])
    other = Feed()
    other(order([("1", A, 10)]))
    cancel = order([], at=T0 + timedelta(hours=3), purpose=PurchaseOrderPurpose.CANCEL)
    assert view(other(cancel)) == ("CANCELLED", [("1", "CANCELLED", 10, {}, 0, 0, 0, "")])


def test_a_receipt_before_its_asn_and_before_the_po_ends_where_the_ordered_feed_does() -> None:
    po = order([("1", A, 10)])
    shipped = asn("ASN1", {"1": (A, 6)}, T0 + timedelta(days=1))
    received = receipt("R1", "ASN1", "1", A, [(ReceiptCondition.GOOD, 6)], T0 + timedelta(days=2))

    in_order = Feed()
    for event in (po, shipped, received):
        last = in_order(event)

    shuffled = Feed()
    assert shuffled(received) is None  # buyer unknown until the PO or an ASN: nothing to key by
    early = shuffled(po)
    # received before anything shipped: counted, and no mismatch while the ASN is unknown
    assert view(early) == ("PARTIALLY_RECEIVED", [("1", "PARTIALLY_RECEIVED", 10, {}, 0, 6, 0, "")])
    assert view(shuffled(shipped)) == view(last) == (
        "PARTIALLY_RECEIVED", [("1", "PARTIALLY_RECEIVED", 10, {}, 6, 6, 0, "")])


def test_duplicates_emit_nothing_and_a_resent_asn_replaces_its_quantities() -> None:
    feed = Feed()
    po = order([("1", A, 10)])
    feed(po)
    shipped = asn("ASN1", {"1": (A, 6)}, T0 + timedelta(days=1))
    feed(shipped)
    state = feed.state
    assert feed(po) is None and feed(shipped) is None  # same event ids again
    assert feed.state == state
    resent = asn("ASN1", {"1": (A, 7)}, T0 + timedelta(days=1, hours=1))  # corrected 856
    assert view(feed(resent)) == ("PARTIALLY_SHIPPED",
                                  [("1", "PARTIALLY_SHIPPED", 10, {}, 7, 0, 0, "")])


def test_shipping_more_than_ordered_is_flagged() -> None:
    feed = Feed()
    feed(order([("1", A, 10)]))
    assert view(feed(asn("ASN1", {"1": (A, 12)}, T0 + timedelta(days=1)))) == (
        "SHIPPED", [("1", "SHIPPED", 10, {}, 12, 0, 0, "S")])


def test_a_receipt_counting_what_its_asn_shipped_raises_no_mismatch() -> None:
    feed = Feed()
    feed(order([("1", A, 10)]))
    feed(asn("ASN1", {"1": (A, 10)}, T0 + timedelta(hours=20)))
    over = feed(receipt("R1", "ASN1", "1", A, [(ReceiptCondition.GOOD, 11)],
                        T0 + timedelta(hours=30)))
    assert view(over) == ("RECEIVED", [("1", "RECEIVED", 10, {}, 10, 11, 0, "M")])
    recount = feed(receipt("R1", "ASN1", "1", A, [(ReceiptCondition.GOOD, 10)],
                           T0 + timedelta(hours=31)))
    assert view(recount) == ("RECEIVED", [("1", "RECEIVED", 10, {}, 10, 10, 0, "")])


@pytest.mark.parametrize(("sla_hours", "next_event_after", "overdue"), [
    (48, timedelta(hours=47), False),
    (48, timedelta(hours=49), True),
    (1, timedelta(hours=2), True),
])
def test_ack_overdue_is_judged_by_event_time_against_the_sla(
        sla_hours: int, next_event_after: timedelta, overdue: bool) -> None:
    feed = Feed(FulfillmentRules(ack_sla=timedelta(hours=sla_hours)))
    # T0 is long past on the wall clock: an overdue judged by the clock would flag at once
    placed = feed(order([("1", A, 10)]))
    assert view(placed) == ("OPEN", [("1", "OPEN", 10, {}, 0, 0, 0, "")])
    later = feed(asn("ASN1", {"1": (A, 2)}, T0 + next_event_after))
    assert view(later) == ("PARTIALLY_SHIPPED", [
        ("1", "PARTIALLY_SHIPPED", 10, {}, 2, 0, 0, "O" if overdue else "")])
    assert later is not None and later.ack_due_at == T0 + timedelta(hours=sla_hours)


def test_a_late_acknowledgement_clears_the_overdue_flag() -> None:
    feed = Feed()
    feed(order([("1", A, 10)]))
    feed(asn("ASN1", {"1": (A, 2)}, T0 + timedelta(hours=50)))
    assert view(feed(ack({"1": [(LineAckStatus.ACCEPTED, 10)]}, T0 + timedelta(hours=51)))) == (
        "PARTIALLY_SHIPPED", [("1", "PARTIALLY_SHIPPED", 10, {"ACCEPTED": 10}, 2, 0, 0, "")])


def test_a_receipt_without_po_number_is_a_missing_reference() -> None:
    orphan = receipt("R9", None, "1", A, [(ReceiptCondition.GOOD, 1)], T0)
    orphan = orphan.model_copy(update={"po_number": None})
    with pytest.raises(MissingReferenceError, match=r"R9.*names no po_number"):
        apply(None, PO, orphan, RULES)


def test_replaying_the_same_events_gives_identical_statuses() -> None:
    events = [order([("1", A, 10)]), asn("ASN1", {"1": (A, 10)}, T0 + timedelta(days=1))]
    first, second = Feed(), Feed()
    assert [first(e) for e in events] == [second(e) for e in events]


def test_a_line_deleted_by_an_860_ends_cancelled_and_a_price_change_keeps_the_quantity() -> None:
    """The 860 is mapped from X12 (POC*1*DI with no POC03; POC*2*PC with no POC03)."""
    from tests.unit.edi_x12.test_mapping_change import CHANGE_860
    from tests.unit.edi_x12.x12_samples import map_bytes

    feed = Feed()
    feed(order([("1", A, 10), ("2", B, 5), ("3", C, 4)]))
    (change,) = map_bytes(CHANGE_860)
    change = change.model_copy(update={"occurred_at": T0 + timedelta(hours=1)})
    status = view(feed(change))
    assert status is not None
    lines = {line[0]: line[1:3] for line in status[1]}
    assert lines["1"] == ("CANCELLED", 10)
    assert lines["2"] == ("OPEN", 5)  # PC restates no quantity: the ordered 5 stands
    assert lines["3"] == ("OPEN", 12)  # QI 12 CA (no conversion given: as stated)


def test_an_865_accepting_a_deletion_cancels_the_line_and_refusing_it_does_not() -> None:
    feed = Feed()
    feed(order([("1", A, 10), ("2", B, 5)]))
    answer = ack({"1": [(LineAckStatus.ACCEPTED, None)], "2": [(LineAckStatus.REJECTED, 0)]},
                 T0 + timedelta(hours=2))
    answer = answer.model_copy(update={"lines": tuple(
        line.model_copy(update={"change_type": LineChangeType.DELETE, "change_type_raw": "DI"})
        for line in answer.lines)})
    status = view(feed(answer))
    assert status is not None
    # line 2: the supplier rejects the deletion, so the line lives on (acknowledged)
    assert [(line[0], line[1]) for line in status[1]] == [("1", "CANCELLED"),
                                                         ("2", "ACKNOWLEDGED")]


def test_line_numbers_that_int_refuses_sort_without_crashing() -> None:
    feed = Feed()
    status = view(feed(order([("³", A, 1), ("9" * 5000, B, 1), ("10", C, 1), ("2", C, 1)])))
    assert status is not None
    assert [line[0] for line in status[1]] == ["2", "10", "9" * 5000, "³"]


def flags(status: OrderLineStatus | None) -> dict[str, tuple[str, set[str]]]:
    """line -> (state, the exception flags that are set)."""
    assert status is not None
    names = ("unknown_order", "not_on_order", "shipped_after_cancellation",
             "received_after_cancellation", "over_received", "ambiguous_line")
    return {line.line_number: (line.state.value,
                               {n for n in names if getattr(line.flags, n)})
            for line in status.lines}


def test_an_asn_for_a_po_never_seen_gives_not_ordered_lines_flagged_unknown() -> None:
    """The demo's case: an ASN for an unknown PO, four items without line numbers and the
    same SKU: one derived line, NOT_ORDERED, unknown order, ambiguous; never OPEN."""
    feed = Feed()
    shipment = asn("ASN9", {}, T0).model_copy(update={"orders": (AsnOrder(po_number=PO, items=tuple(
        AsnItem(item=ItemRef(sku="0000000000", description=f"item {n}"), shipped_qty=ea(n))
        for n in range(1, 5))),)})
    status = feed(shipment)
    assert status is not None and status.order_state.value == "NOT_ORDERED"
    assert flags(status) == {"sku:0000000000": (
        "NOT_ORDERED", {"unknown_order", "ambiguous_line"})}
    assert int(status.lines[0].shipped_qty) == 10


def test_an_unordered_item_and_receipts_on_cancelled_lines_are_exceptions() -> None:
    feed = Feed()
    feed(order([("1", A, 10), ("2", B, 5)]))
    delete = order([], at=T0 + timedelta(hours=1), purpose=PurchaseOrderPurpose.CHANGE)
    delete = delete.model_copy(update={"lines": (PurchaseOrderLine(
        line_number="2", change_type=LineChangeType.DELETE, item=ItemRef(sku=B),
        ordered_qty=ea(0), ordered_qty_stated=False),)})
    feed(delete)
    feed(asn("ASN1", {"2": (B, 5), "7": (C, 1)}, T0 + timedelta(days=1)))
    status = feed(receipt("R1", "ASN1", "1", A, [(ReceiptCondition.GOOD, 12)],
                          T0 + timedelta(days=2)))
    status = feed(receipt("R2", "ASN1", "2", B, [(ReceiptCondition.GOOD, 5)],
                          T0 + timedelta(days=2)))
    assert flags(status) == {
        "1": ("RECEIVED", {"over_received"}),
        "2": ("CANCELLED", {"shipped_after_cancellation", "received_after_cancellation"}),
        "7": ("NOT_ORDERED", {"not_on_order"}),
    }
    # The order's state comes from its ordered lines: the unordered item does not hold it.
    assert status is not None and status.order_state.value == "RECEIVED"


def test_items_named_by_their_own_line_reference_are_not_ambiguous() -> None:
    feed = Feed()
    feed(order([("1", A, 10), ("2", A, 5)]))
    status = feed(asn("ASN1", {"1": (A, 10), "2": (A, 5)}, T0 + timedelta(days=1)))
    assert all(not found for _, found in flags(status).values())
