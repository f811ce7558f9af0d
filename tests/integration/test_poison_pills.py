"""Poison pills on the shipment-status input: each one a dead letter exactly once, the partition
keeps flowing and the consumer group ends with no lag (issue 8, item 5).

Six kinds, interleaved with good ShipmentMilestone records on one partition of a fresh topic:
a string length of 2^60 and a negative one, garbage bytes (behind a valid frame; and, as the
very last record, too short for a frame), a wrong magic byte, a schema id registered under
another subject, and valid Avro that breaks the canonical model (``event_type`` naming another
record).
"""

from __future__ import annotations

import io
import random
import struct
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastavro
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from backbone import schemas
from backbone.events import ShipmentMilestone, ShipmentStatus
from backbone.samples import sample_shipment_milestone
from backbone.serde import AvroSerde
from processors.shipment_status import processor as shipment_status
from tests.reliability.processor_harness import (
    decoded,
    fresh_topics,
    options,
    read_committed,
    run_until_idle,
    serde_for,
)

pytestmark = pytest.mark.integration

RAW = "logistics.shipment-milestone.raw.v1"
STATUS = "logistics.shipment-status.v1"
DLQ = "shipment-status.dlq.v1"
HEADER = struct.Struct(">bI")


@dataclass(frozen=True)
class Pill:
    key: str
    value: bytes
    category: str
    message_hint: str  # a piece of the dead letter's exception message


@pytest.fixture
def serde(registry_url: str) -> Iterator[AvroSerde]:
    codec = serde_for(registry_url)
    yield codec
    codec.registry.close()


def _framed(schema_id: int, record: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    buffer.write(HEADER.pack(0, schema_id))
    fastavro.schemaless_writer(buffer, schemas.parsed(ShipmentMilestone.RECORD_NAME), record)
    return buffer.getvalue()


def _with_length(template: bytes, text: str, length: int) -> bytes:
    """``template`` with the varint length of the string ``text`` replaced by ``length``."""
    encoded, value, varint = text.encode(), (length << 1) ^ (length >> 63), bytearray()
    while value > 0x7F:
        varint.append((value & 0x7F) | 0x80)
        value >>= 7
    varint.append(value)
    start = template.index(encoded) - 1  # a uuid's 36 bytes: a one-byte length
    return template[:start] + bytes(varint) + template[start + 1:]


def _pills(raw_id: int, foreign_id: int, template: bytes, event_id: str) -> list[Pill]:
    junk = random.Random(8).randbytes(96)
    record = sample_shipment_milestone(900).to_avro()
    return [
        # lengths no writer produces (issue 14): a reader must neither allocate nor wait
        Pill("PILL:length-2^60", _with_length(template, event_id, 2**60), "DESERIALIZATION",
             "not valid Avro"),
        Pill("PILL:length-negative", _with_length(template, event_id, -5), "DESERIALIZATION",
             "not valid Avro"),
        Pill("PILL:garbage", HEADER.pack(0, raw_id) + junk, "DESERIALIZATION", "not valid Avro"),
        Pill("PILL:magic", b"\x01" + template[1:], "DESERIALIZATION", "magic byte"),
        Pill("PILL:schema-id", HEADER.pack(0, foreign_id) + template[HEADER.size:],
             "DESERIALIZATION", "is not registered under"),
        Pill("PILL:event-type", _framed(raw_id, {**record, "event_type": "ShipmentStatus"}),
             "SCHEMA_VALIDATION", "does not match ShipmentMilestone"),
    ]


def _produce_in_order(bootstrap: str, topic: str,
                      rows: list[tuple[str, bytes]]) -> dict[str, int]:
    """Produce ``rows`` one after another to partition 0; key -> offset it landed at."""
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    offsets: dict[str, int] = {}
    errors: list[Any] = []

    def delivered(error: Any, message: Any) -> None:
        if error is not None:
            errors.append(error)
        else:
            offsets[message.key().decode()] = message.offset()

    for key, value in rows:
        producer.produce(topic, key=key, value=value, partition=0, on_delivery=delivered)
    assert producer.flush(30) == 0 and not errors, errors
    return offsets


def _lag(bootstrap: str, group: str, topic: str) -> tuple[int, int]:
    """(committed offset of ``group``, end offset) of partition 0 of ``topic``."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                         "enable.auto.commit": False, "isolation.level": "read_committed"})
    try:
        [committed] = consumer.committed([TopicPartition(topic, 0)], timeout=10)
        _low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    finally:
        consumer.close()
    return committed.offset, high


def test_each_poison_pill_is_a_dead_letter_once_and_the_partition_keeps_flowing(
        bootstrap_servers: str, registry_url: str, serde: AvroSerde, admin: AdminClient,
        tmp_path: Path) -> None:
    topics = fresh_topics(admin, shipment_status.SPEC)
    raw, status = topics.topic(RAW), topics.topic(STATUS)
    goods = [sample_shipment_milestone(seed) for seed in range(200, 207)]
    assert len({g.tracking_number for g in goods}) == len(goods)
    raw_id = serde.schema_id(raw)
    foreign_id = serde.schema_id(status)  # registered, but under the status topic's subject
    assert foreign_id != raw_id
    template = serde.serialize(raw, goods[0])
    pills = _pills(raw_id, foreign_id, template, goods[0].event_id)
    # good, pill, good, pill, ... good: every pill has good records behind it; then one more
    # pill (garbage too short for the frame) last, so the end offset itself lies past a pill
    rows = [(raw.key_for(goods[0]) or "", template)]
    for pill, good in zip(pills, goods[1:], strict=True):
        rows += [(pill.key, pill.value), (raw.key_for(good) or "", serde.serialize(raw, good))]
    last = Pill("PILL:garbage-last", b"\x00\x01", "DESERIALIZATION", "too short")
    pills.append(last)
    rows.append((last.key, last.value))
    offsets = _produce_in_order(bootstrap_servers, raw.name, rows)

    group = f"g{uuid.uuid4().hex[:8]}"
    # a serde of its own: the processor learns schema ids only from what it reads
    processor_serde = serde_for(registry_url)
    try:
        run_until_idle(shipment_status.with_mappings(shipment_status.current_mappings()),
                       processor_serde, options(bootstrap_servers, topics, tmp_path, group=group))
    finally:
        processor_serde.registry.close()

    letters = read_committed(bootstrap_servers, topics.name(DLQ), expect=len(pills))
    assert sorted(r.key or "" for r in letters) == sorted(p.key for p in pills)  # once each
    by_key = {r.key: r for r in letters}
    for pill in pills:
        letter = by_key[pill.key]
        headers = letter.headers
        assert headers["backbone.dlq.category"].decode() == pill.category, pill.key
        assert letter.value == pill.value, f"{pill.key}: original bytes changed"
        assert headers["backbone.dlq.original.topic"].decode() == raw.name
        assert headers["backbone.dlq.original.partition"] == b"0"
        assert int(headers["backbone.dlq.original.offset"]) == offsets[pill.key]
        assert (headers["backbone.dlq.stage"], headers["backbone.dlq.step"]) == (
            b"processor", b"decode")
        assert pill.message_hint in headers["backbone.dlq.exception.message"].decode(), pill.key

    statuses = decoded(serde, topics, STATUS, read_committed(
        bootstrap_servers, status.name, expect=len(goods)))
    shipments = [(s.carrier, s.tracking_number) for s in statuses
                 if isinstance(s, ShipmentStatus)]
    assert len(shipments) == len(statuses) and sorted(shipments) == sorted(
        (g.carrier, g.tracking_number) for g in goods)

    committed, end = _lag(bootstrap_servers, group, raw.name)
    assert end == len(rows)
    assert committed == end, f"consumer group {group} is {end - committed} records behind"
