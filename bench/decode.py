"""Guarded decoding (AvroSerde) events/s against confluent-kafka's AvroDeserializer.

Where reference/perf.md found the generic wrappers' cost: the deserializer re-expands the
reader schema per message. Both sides decode the same Confluent-framed ShipmentMilestone bytes
registered in the same registry, to plain dicts (no pydantic on either side), in one process.
"""

from __future__ import annotations

import statistics
import time
import uuid
from dataclasses import replace
from typing import Any

from backbone.samples import sample_shipment_milestone
from backbone.serde import AvroSerde
from backbone.topics import topic
from bench.common import endpoints, report, result

EVENTS = 20_000
ROUNDS = 5


def _rate(decode: Any, payloads: list[bytes]) -> float:
    started = time.perf_counter()
    for payload in payloads:
        decode(payload)
    return len(payloads) / (time.perf_counter() - started)


def run() -> list[dict[str, Any]]:
    from confluent_kafka.schema_registry import SchemaRegistryClient
    from confluent_kafka.schema_registry.avro import AvroDeserializer
    from confluent_kafka.serialization import MessageField, SerializationContext

    where = endpoints()
    registry = where.registry()
    serde = AvroSerde(registry)
    private = replace(topic("logistics.shipment-milestone.raw.v1"),
                      name=f"bench.decode.{uuid.uuid4().hex[:8]}")
    payloads = [serde.serialize(private, sample_shipment_milestone(seed=n))
                for n in range(EVENTS)]
    deserializer = AvroDeserializer(SchemaRegistryClient({"url": where.registry_url}))
    context = SerializationContext(private.name, MessageField.VALUE)
    ours, theirs = [], []
    for _ in range(ROUNDS):  # interleaved; medians
        ours.append(_rate(lambda p: serde.deserialize_dict(private, p), payloads))
        theirs.append(_rate(lambda p: deserializer(p, context), payloads))
    registry.close()
    return [result("decode: AvroSerde (guarded) vs AvroDeserializer",
                   statistics.median(ours), statistics.median(theirs), 1.8, "events/s",
                   "AvroDeserializer")]


if __name__ == "__main__":
    report(run())
