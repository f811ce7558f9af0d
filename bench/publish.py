"""EventPublisher events/s against (a) fastavro + produce by hand, (b) confluent's AvroSerializer.

All three publish the same pre-built ShipmentMilestone events with the same producer settings
(idempotent, acks=all) to fresh topics on the same broker, and wait for every delivery report.
"""

from __future__ import annotations

import io
import statistics
import struct
from dataclasses import replace
from typing import Any

import fastavro
from confluent_kafka import Producer

from backbone import schemas
from backbone.events import ShipmentMilestone
from backbone.samples import sample_shipment_milestone
from backbone.serde import AvroSerde
from backbone.topics import topic
from bench.common import endpoints, fresh_topic, report, result, timed
from producers import EventPublisher
from producers.publisher import producer_config

EVENTS = 10_000
ROUNDS = 5


def _ours(bootstrap: str, serde: AvroSerde, events: list[ShipmentMilestone]) -> int:
    target = replace(topic("logistics.shipment-milestone.raw.v1"),
                     name=fresh_topic(bootstrap))
    with EventPublisher(bootstrap, serde) as publisher:
        publisher.publish_batch(events, topic=target)
    return len(events)


def _produce_all(producer: Producer, name: str, rows: list[tuple[str, bytes]]) -> None:
    failures: list[Any] = []

    def on_delivery(error: Any, _message: Any) -> None:
        if error is not None:
            failures.append(error)

    for key, value in rows:
        while True:
            try:
                producer.produce(name, value=value, key=key, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    producer.flush(60)
    if failures:
        raise RuntimeError(f"{len(failures)} deliveries failed: {failures[0]}")


def _fastavro_direct(bootstrap: str, schema_id: int, events: list[ShipmentMilestone]) -> int:
    name = fresh_topic(bootstrap)
    parsed = schemas.parsed(ShipmentMilestone.RECORD_NAME)
    header = struct.pack(">bI", 0, schema_id)
    producer = Producer(producer_config(bootstrap))
    rows = []
    for event in events:
        buffer = io.BytesIO()
        buffer.write(header)
        fastavro.schemaless_writer(buffer, parsed, event.to_avro())
        rows.append((f"{event.carrier}:{event.tracking_number}", buffer.getvalue()))
    _produce_all(producer, name, rows)
    return len(events)


def _confluent_serializer(bootstrap: str, registry_url: str,
                          events: list[ShipmentMilestone]) -> int:
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroSerializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    name = fresh_topic(bootstrap)
    serializer = AvroSerializer(
        SchemaRegistryClient({"url": registry_url}),
        schemas.schema_text(ShipmentMilestone.RECORD_NAME),
        lambda event, _ctx: event.to_avro(),
    )
    context = SerializationContext(name, MessageField.VALUE)
    producer = Producer(producer_config(bootstrap))
    rows = [(f"{e.carrier}:{e.tracking_number}", serializer(e, context)) for e in events]
    _produce_all(producer, name, rows)
    return len(events)


def run() -> list[dict[str, Any]]:
    where = endpoints()
    events = [sample_shipment_milestone(seed=n) for n in range(EVENTS)]
    registry = where.registry()
    serde = AvroSerde(registry)
    schema_id = serde.schema_id(topic("logistics.shipment-milestone.raw.v1"))
    ours, direct, wrapped = [], [], []
    for _ in range(ROUNDS):  # interleaved so machine drift hits all three alike; medians
        ours.append(timed(lambda: _ours(where.bootstrap_servers, serde, events)))
        direct.append(timed(
            lambda: _fastavro_direct(where.bootstrap_servers, schema_id, events)))
        wrapped.append(timed(
            lambda: _confluent_serializer(where.bootstrap_servers, where.registry_url, events)))
    registry.close()
    ours_rate, direct_rate, wrapped_rate = (statistics.median(x) for x in (ours, direct, wrapped))
    return [
        result("publish: EventPublisher vs fastavro+produce", ours_rate, direct_rate, 0.8,
               "events/s", "fastavro+produce"),
        result("publish: EventPublisher vs AvroSerializer", ours_rate, wrapped_rate, 1.8,
               "events/s", "AvroSerializer"),
    ]


if __name__ == "__main__":
    report(run())
