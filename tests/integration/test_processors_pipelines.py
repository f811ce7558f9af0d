"""Each processor on fresh topics of the real broker: outputs and dead letters, read_committed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from backbone.events.common import Quantity
from backbone.events.inventory import InventoryDiscrepancy, InventoryPosition
from backbone.events.logistics import ShipmentStatus
from backbone.events.procurement import OrderLineStatus
from backbone.samples import (
    sample_goods_receipt,
    sample_inventory_movement,
    sample_inventory_snapshot,
    sample_purchase_order_changed,
    sample_shipment_milestone,
)
from backbone.serde import AvroSerde
from processors.order_fulfillment import processor as order_fulfillment
from processors.order_fulfillment.state import FulfillmentRules
from processors.shipment_status import processor as shipment_status
from processors.stock_reconciliation import processor as stock_reconciliation
from processors.stock_reconciliation.state import ReconciliationRules
from tests.reliability.processor_harness import (
    decoded_as,
    fresh_topics,
    options,
    produce_events,
    produce_raw,
    read_committed,
    run_until_idle,
    serde_for,
)

pytestmark = pytest.mark.integration

RAW = "logistics.shipment-milestone.raw.v1"


@pytest.fixture
def serde(registry_url: str) -> Iterator[AvroSerde]:
    codec = serde_for(registry_url)
    yield codec
    codec.registry.close()


def test_shipment_status_outputs_statuses_and_dead_letters_poison_and_unknown_codes(
        bootstrap_servers: str, serde: AvroSerde, admin: AdminClient, tmp_path: Path) -> None:
    topics = fresh_topics(admin, shipment_status.SPEC)
    first = sample_shipment_milestone(1)
    unknown = sample_shipment_milestone(2, raw_status=first.raw_status.model_copy(
        update={"code": "ZZ-NOT-A-CODE"}))
    produce_events(bootstrap_servers, serde, topics, RAW, [first, first])  # a resend
    produce_raw(bootstrap_servers, topics.name(RAW), "UPSN:POISON", b"\x00garbage")
    produce_events(bootstrap_servers, serde, topics, RAW, [unknown])

    run_until_idle(shipment_status.with_mappings(shipment_status.current_mappings()), serde,
                   options(bootstrap_servers, topics, tmp_path))

    statuses = decoded_as(
        ShipmentStatus, serde, topics, "logistics.shipment-status.v1", read_committed(
        bootstrap_servers, topics.name("logistics.shipment-status.v1"), expect=1))
    assert [(s.carrier, s.tracking_number, s.history_count) for s in statuses] == [
        (first.carrier, first.tracking_number, 1)]
    letters = read_committed(bootstrap_servers, topics.name("shipment-status.dlq.v1"), expect=2)
    assert [(r.key, r.headers["backbone.dlq.category"]) for r in letters] == [
        ("UPSN:POISON", b"DESERIALIZATION"),
        (f"{unknown.carrier}:{unknown.tracking_number}", b"UNKNOWN_CODE")]
    assert letters[0].value == b"\x00garbage"  # original bytes untouched
    assert letters[1].headers["backbone.dlq.original.topic"] == topics.name(RAW).encode()


def test_order_fulfillment_joins_receipts_keyed_by_sku_to_their_po(
        bootstrap_servers: str, serde: AvroSerde, admin: AdminClient, tmp_path: Path) -> None:
    topics = fresh_topics(admin, order_fulfillment.SPEC, partitions=2)
    order = sample_purchase_order_changed(3)
    line = order.lines[0]
    sku = line.item.sku
    receipt = sample_goods_receipt(3, po_number=order.po_number, asn_id=None)
    receipt = receipt.model_copy(update={"lines": (receipt.lines[0].model_copy(update={
        "line_ref": line.line_number, "item": line.item,
        "received_qty": Quantity(value=Decimal(1), uom="EA")}),), "sku": sku or receipt.sku})
    orphan = sample_goods_receipt(4, po_number=None)
    produce_events(bootstrap_servers, serde, topics, "procurement.purchase-order.v1", [order])
    produce_events(bootstrap_servers, serde, topics, "inventory.receipt.v1", [receipt, orphan])

    run_until_idle(order_fulfillment.with_rules(FulfillmentRules(timedelta(hours=48))), serde,
                   options(bootstrap_servers, topics, tmp_path))

    out = decoded_as(
        OrderLineStatus, serde, topics, "procurement.order-line-status.v1", read_committed(
        bootstrap_servers, topics.name("procurement.order-line-status.v1"), expect=2))
    assert [s.po_number for s in out] == [order.po_number, order.po_number]
    received = {p.line_number: p.received_qty for p in out[-1].lines}
    assert received[line.line_number] == Decimal(1)
    letters = read_committed(bootstrap_servers, topics.name("order-fulfillment.dlq.v1"),
                             expect=1)
    assert [r.headers["backbone.dlq.category"] for r in letters] == [b"MISSING_REFERENCE"]


def test_stock_reconciliation_opens_and_clears_a_break(
        bootstrap_servers: str, serde: AvroSerde, admin: AdminClient, tmp_path: Path) -> None:
    topics = fresh_topics(admin, stock_reconciliation.SPEC)
    wms = sample_inventory_snapshot(5)
    wms = wms.model_copy(update={
        "source": wms.source.model_copy(update={"system": "WMS"}),
        "quantities": {"ON_HAND": Quantity(value=Decimal(100), uom="EA")}})
    erp = sample_inventory_snapshot(6, sku=wms.sku, location=wms.location)
    erp = erp.model_copy(update={"as_of": wms.as_of, "quantities": {
        "ON_HAND": Quantity(value=Decimal(90), uom="EA")}})
    found = sample_inventory_movement(7, sku=wms.sku, location=wms.location)
    found = found.model_copy(update={"occurred_at": wms.as_of + timedelta(minutes=5),
                                     "qty_delta": Quantity(value=Decimal(-10), uom="EA")})
    produce_events(bootstrap_servers, serde, topics, "inventory.snapshot.v1", [wms, erp])
    produce_events(bootstrap_servers, serde, topics, "inventory.movement.v1", [found, found])

    run_until_idle(stock_reconciliation.with_rules(ReconciliationRules(tolerance=Decimal(1))),
                   serde, options(bootstrap_servers, topics, tmp_path))

    breaks = decoded_as(
        InventoryDiscrepancy, serde, topics, "inventory.discrepancy.v1", read_committed(
        bootstrap_servers, topics.name("inventory.discrepancy.v1"), expect=2))
    assert [(b.status.value, b.delta) for b in breaks] == [("BREAK", Decimal(-10)),
                                                          ("CLEARED", Decimal(0))]
    positions = decoded_as(
        InventoryPosition, serde, topics, "inventory.position.v1", read_committed(
        bootstrap_servers, topics.name("inventory.position.v1"), expect=3))
    assert [p.expected_on_hand for p in positions] == [Decimal(100), Decimal(100), Decimal(90)]
