"""Decoding refuses bad bytes with DESERIALIZATION errors instead of crashing (no broker)."""

from __future__ import annotations

import io
import json
import struct
from dataclasses import replace

import fastavro
import pytest

from backbone import schemas
from backbone.errors import Category, DecodeError, EventTooLargeError, SchemaValidationError
from backbone.samples import sample
from backbone.serde import AvroSerde, refuse_recursion
from backbone.topics import topic

MILESTONES = topic("logistics.shipment-milestone.raw.v1")
RECORD = "backbone.logistics.ShipmentMilestone"


class RegistryDouble:
    """An in-memory stand-in for SchemaRegistry: one subject per registered schema text."""

    def __init__(self) -> None:
        self.by_id: dict[int, str] = {}
        self.by_subject: dict[str, set[int]] = {}

    def lookup(self, subject: str, text: str) -> int | None:
        for schema_id in self.by_subject.get(subject, set()):
            if self.by_id[schema_id] == text:
                return schema_id
        return None

    def register(self, subject: str, text: str) -> int:
        found = self.lookup(subject, text)
        if found is not None:
            return found
        schema_id = len(self.by_id) + 1
        self.by_id[schema_id] = text
        self.by_subject.setdefault(subject, set()).add(schema_id)
        return schema_id

    def subject_ids(self, subject: str, *, refresh: bool = False) -> frozenset[int]:
        return frozenset(self.by_subject.get(subject, set()))

    def schema(self, schema_id: int) -> str:
        return self.by_id[schema_id]


@pytest.fixture
def registry() -> RegistryDouble:
    return RegistryDouble()


@pytest.fixture
def serde(registry: RegistryDouble) -> AvroSerde:
    return AvroSerde(registry, max_message_bytes=64_000)  # type: ignore[arg-type]


def test_round_trip(serde: AvroSerde) -> None:
    event = sample(RECORD, seed=3)
    assert serde.deserialize(MILESTONES, serde.serialize(MILESTONES, event)) == event


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (None, "no value"),
        (b"\x00\x00", "too short"),
        (b'{"event_type": "ShipmentMilestone"}', "magic byte"),
        (b"\xff" * 40, "magic byte"),
        (b"\x00\x00\x00\x03\xe7" + b"\x02" * 20, "not registered"),
        (b"\x00" * 70_000, "over the decode limit"),
    ],
    ids=["tombstone", "short", "json", "garbage", "unknown-id", "oversized"],
)
def test_bad_bytes_are_deserialization_errors(
    serde: AvroSerde, data: bytes | None, problem: str
) -> None:
    serde.serialize(MILESTONES, sample(RECORD))  # registers the subject
    with pytest.raises(DecodeError) as caught:
        serde.deserialize(MILESTONES, data)
    assert caught.value.category is Category.DESERIALIZATION
    assert problem in str(caught.value)
    assert MILESTONES.name in str(caught.value)


def test_truncated_avro_is_a_deserialization_error(serde: AvroSerde) -> None:
    data = serde.serialize(MILESTONES, sample(RECORD))
    with pytest.raises(DecodeError, match="not valid Avro"):
        serde.deserialize(MILESTONES, data[: len(data) // 2])


def test_trailing_bytes_are_refused(serde: AvroSerde) -> None:
    data = serde.serialize(MILESTONES, sample(RECORD))
    with pytest.raises(DecodeError, match="trailing bytes"):
        serde.deserialize(MILESTONES, data + b"\x00\x01")


def test_schema_id_of_another_subject_is_refused(
    serde: AvroSerde, registry: RegistryDouble
) -> None:
    other = topic("inventory.snapshot.v1")
    data = serde.serialize(other, sample(other.record or ""))
    serde.serialize(MILESTONES, sample(RECORD))
    with pytest.raises(DecodeError, match="not registered under"):
        serde.deserialize(MILESTONES, data)


def test_valid_avro_breaking_the_model_is_a_validation_error(
    serde: AvroSerde, registry: RegistryDouble
) -> None:
    record = sample(RECORD).to_avro()
    record["event_type"] = "PurchaseOrderChanged"  # valid Avro string, wrong for this record
    schema_id = serde.schema_id(MILESTONES)
    buffer = io.BytesIO()
    buffer.write(struct.pack(">bI", 0, schema_id))
    fastavro.schemaless_writer(buffer, schemas.parsed(RECORD), record)
    with pytest.raises(SchemaValidationError, match="event_type") as caught:
        serde.deserialize(MILESTONES, buffer.getvalue())
    assert caught.value.category is Category.SCHEMA_VALIDATION


def test_recursive_writer_schema_is_refused(serde: AvroSerde, registry: RegistryDouble) -> None:
    serde.serialize(MILESTONES, sample(RECORD))
    recursive = json.dumps({
        "type": "record", "name": "Node", "namespace": "evil",
        "fields": [{"name": "next", "type": ["null", "Node"], "default": None}],
    })
    schema_id = registry.register(MILESTONES.value_subject, recursive)
    deep = b"\x02" * 5000 + b"\x00"  # 5000 nested "next" branches, then null
    with pytest.raises(DecodeError, match="recursive"):
        serde.deserialize(MILESTONES, struct.pack(">bI", 0, schema_id) + deep)


def test_refuse_recursion_allows_reused_types() -> None:
    refuse_recursion(schemas.load(RECORD))  # shared types used twice are not recursion
    with pytest.raises(ValueError, match="recursive"):
        refuse_recursion({"type": "record", "name": "A", "fields": [
            {"name": "b", "type": {"type": "record", "name": "B", "fields": [
                {"name": "a", "type": {"type": "array", "items": "A"}}]}}]})


def test_event_larger_than_the_topic_allows_is_refused_before_produce(serde: AvroSerde) -> None:
    small = replace(MILESTONES, max_message_bytes=200)
    event = sample(RECORD)
    with pytest.raises(EventTooLargeError, match="over the 200-byte limit") as caught:
        serde.serialize(small, event)
    assert event.event_id in str(caught.value)


def test_an_id_seen_on_one_topic_is_still_refused_on_another(serde: AvroSerde) -> None:
    statuses = topic("logistics.shipment-status.v1")
    status_bytes = serde.serialize(statuses, sample(statuses.record or ""))
    serde.deserialize(statuses, status_bytes)  # cached for the status topic
    serde.serialize(MILESTONES, sample(RECORD))
    with pytest.raises(DecodeError, match="not registered under"):
        serde.deserialize(MILESTONES, status_bytes)
