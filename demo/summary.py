"""The demo's closing summary: what is on each topic, and what the processors concluded."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from decimal import Decimal
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, TopicPartition
from rich.console import Console
from rich.table import Table

from backbone.clients import Endpoints
from backbone.errors import BackboneError
from backbone.events import InventoryDiscrepancy, OrderLineStatus, ShipmentStatus
from backbone.kafka import consumer_config
from backbone.serde import AvroSerde
from backbone.topics import CATALOG, ValueFormat, topic
from processors.dlq.dialects import read_dead_letter

console = Console(width=120)


def _n(quantity: Decimal) -> str:
    """A quantity without trailing zeros or exponent: 120, 36.5."""
    return format(quantity.normalize(), "f")


def _consumer(endpoints: Endpoints) -> Consumer:
    return Consumer(consumer_config(endpoints.kafka,
                                    f"backbone-demo-summary-{uuid.uuid4().hex[:8]}"))


def read_all(endpoints: Endpoints, name: str, idle_s: float = 3.0) -> list[Message]:
    """Every committed record of ``name`` (stops after ``idle_s`` without a new one)."""
    consumer = _consumer(endpoints)
    try:
        metadata = consumer.list_topics(name, timeout=10).topics[name]
        consumer.assign([TopicPartition(name, p, OFFSET_BEGINNING) for p in metadata.partitions])
        messages: list[Message] = []
        last = time.monotonic()
        while time.monotonic() - last < idle_s:
            batch = [m for m in consumer.consume(500, timeout=0.5) if not m.error()]
            if batch:
                messages.extend(batch)
                last = time.monotonic()
        return messages
    finally:
        consumer.close()


def _record_counts(endpoints: Endpoints) -> list[tuple[str, int]]:
    consumer = _consumer(endpoints)
    try:
        existing = consumer.list_topics(timeout=10).topics
        counts = []
        for entry in CATALOG:
            if entry.name not in existing:
                continue
            total = 0
            for partition in existing[entry.name].partitions:
                low, high = consumer.get_watermark_offsets(
                    TopicPartition(entry.name, partition), timeout=10)
                total += high - low
            counts.append((entry.name, total))
        return counts
    finally:
        consumer.close()


def _latest(endpoints: Endpoints, serde: AvroSerde, name: str) -> dict[bytes, Any]:
    entry = topic(name)
    latest: dict[bytes, Any] = {}
    for message in read_all(endpoints, name):
        try:
            latest[message.key() or b""] = serde.deserialize(entry, message.value())
        except BackboneError:
            continue
    return latest


def print_summary(endpoints: Endpoints) -> None:
    serde = AvroSerde(endpoints.registry())

    table = Table("topic", "records", title="Records per topic (including control records)")
    for name, count in _record_counts(endpoints):
        if count:
            table.add_row(name, str(count))
    console.print(table)

    statuses = _latest(endpoints, serde, "logistics.shipment-status.v1")
    table = Table("carrier", "tracking", "milestone", "exception", "last raw status",
                  "events", title="Shipment status (logistics.shipment-status.v1)")
    for status in statuses.values():
        assert isinstance(status, ShipmentStatus)
        condition = status.condition.reason_group or "yes" if status.condition.exception else ""
        raw = status.last_event.raw_status
        table.add_row(status.carrier, status.tracking_number, status.milestone.value, condition,
                      f"{raw.source.value} {raw.code}", str(status.history_count))
    console.print(table)

    orders = _latest(endpoints, serde, "procurement.order-line-status.v1")
    table = Table("PO", "line", "sku", "ordered", "acked", "shipped", "received", "state",
                  "flags", title="Order lines (procurement.order-line-status.v1)")
    for order in orders.values():
        assert isinstance(order, OrderLineStatus)
        for line in order.lines:
            flags = [name for name, on in line.flags.model_dump().items() if on]
            acked = ", ".join(f"{k} {_n(v)}" for k, v in line.acked_qty_by_status.items())
            table.add_row(f"{order.buyer}|{order.po_number}", line.line_number, line.sku or "",
                          f"{_n(line.ordered_qty)} {line.uom}", acked,
                          _n(line.shipped_qty), _n(line.received_qty),
                          line.state.value, ", ".join(flags))
    console.print(table)

    breaks = _latest(endpoints, serde, "inventory.discrepancy.v1")
    table = Table("sku@location", "status", "expected", "reported", "in transit", "delta",
                  title="Stock discrepancies (inventory.discrepancy.v1), latest per key")
    for discrepancy in breaks.values():
        assert isinstance(discrepancy, InventoryDiscrepancy)
        table.add_row(f"{discrepancy.sku}@{discrepancy.location}", discrepancy.status.value,
                      _n(discrepancy.expected_on_hand), _n(discrepancy.reported_on_hand),
                      _n(discrepancy.in_transit), _n(discrepancy.delta))
    console.print(table)

    dead: Counter[tuple[str, str]] = Counter()
    for entry in CATALOG:
        if entry.name.endswith(".dlq.v1") and entry.value_format is ValueFormat.BYTES:
            for message in read_all(endpoints, entry.name, idle_s=1.5):
                letter = read_dead_letter(message)
                dead[(entry.name, letter.record.category)] += 1
    table = Table("dead-letter topic", "category", "records", title="Dead letters")
    for (name, category), count in sorted(dead.items()):
        table.add_row(name, category, str(count))
    console.print(table)

    console.print("""
What to type next (with KAFKA_BOOTSTRAP_SERVERS and SCHEMA_REGISTRY_URL exported, e.g.
eval "$(.venv/bin/backbone stack up)"):
  .venv/bin/backbone tail logistics.shipment-status.v1 --from-beginning --max 5
  .venv/bin/backbone dlq list                  dead letters with their reasons
  .venv/bin/backbone dlq show --help           one in full;  dlq replay --dry-run  after a fix
  .venv/bin/backbone asyncapi                  every topic, key and schema
  BACKBONE_METRICS_PORT=9464 .venv/bin/backbone process shipment-status   then
  curl 127.0.0.1:9464/metrics                  (Prometheus; deploy/prometheus has alerts)
  .venv/bin/backbone stack down                stop Kafka and the registry""")
