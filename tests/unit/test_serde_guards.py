"""Decoding refuses bad bytes with DESERIALIZATION errors instead of crashing (no broker)."""

from __future__ import annotations

import io
import json
import struct
import time
from dataclasses import replace
from decimal import Decimal

import fastavro
import pytest

from backbone import schemas
from backbone.errors import Category, DecodeError, EventTooLargeError, SchemaValidationError
from backbone.events import Quantity
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


# -- found by fuzzing (issue 14): bytes or writer schemas that hung or crashed the decoder ---

SNAPSHOTS = topic("inventory.snapshot.v1")


def zigzag(number: int) -> bytes:
    """Avro's varint of ``number``."""
    value, out = (number << 1) ^ (number >> 63), bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def snapshot_with_on_hand(serde: AvroSerde, decimal_bytes: bytes) -> bytes:
    """An encoded InventorySnapshot whose ON_HAND value's bytes are ``decimal_bytes``."""
    event = sample(SNAPSHOTS.record or "")
    marker = Decimal("123456.789012")
    event = event.model_copy(update={"quantities": {"ON_HAND": Quantity(value=marker,
                                                                        uom="EA")}})
    data = serde.serialize(SNAPSHOTS, event)
    unscaled = int(marker.scaleb(6))
    needle = unscaled.to_bytes((unscaled.bit_length() + 8) // 8, "big", signed=True)
    assert data.count(zigzag(len(needle)) + needle) == 1
    return data.replace(zigzag(len(needle)) + needle, zigzag(len(decimal_bytes)) + decimal_bytes)


def test_a_decimal_of_a_megabyte_is_refused_at_once_not_after_minutes(serde: AvroSerde) -> None:
    # int -> Decimal is quadratic: 900 KB of digits took ~250 s in fastavro and the codec alike
    big = snapshot_with_on_hand(serde, b"\x01" + b"\x00" * 50_000)
    started = time.perf_counter()
    with pytest.raises(DecodeError, match="a decimal of 50001 bytes holds more than its 18 "
                       "digits") as caught:
        serde.deserialize(SNAPSHOTS, big)
    assert time.perf_counter() - started < 0.5
    assert SNAPSHOTS.name in str(caught.value)
    # a value padded with sign bytes is still the value
    padded = snapshot_with_on_hand(serde, b"\xff" * 100 + (-5).to_bytes(1, "big", signed=True))
    assert serde.deserialize(SNAPSHOTS, padded).quantities["ON_HAND"].value == Decimal(
        "-0.000005")


def test_an_older_writer_schema_is_guarded_like_the_current_one(
        serde: AvroSerde, registry: RegistryDouble) -> None:
    big = snapshot_with_on_hand(serde, b"\x01" + b"\x00" * 50_000)
    # the same schema under another id: records take fastavro's schema-resolution path
    older = registry.register(SNAPSHOTS.value_subject, schemas.schema_text(
        SNAPSHOTS.record or "") + " ")
    assert older != serde.schema_id(SNAPSHOTS)
    started = time.perf_counter()
    with pytest.raises(DecodeError, match="holds more than its 18 digits"):
        serde.deserialize(SNAPSHOTS, struct.pack(">bI", 0, older) + big[5:])
    assert time.perf_counter() - started < 0.5
    good = serde.serialize(SNAPSHOTS, sample(SNAPSHOTS.record or ""))
    assert serde.deserialize(SNAPSHOTS, struct.pack(">bI", 0, older) + good[5:]) == \
        serde.deserialize(SNAPSHOTS, good)


@pytest.mark.parametrize(("length", "what"), [
    (2**60, "absurd"), (-(2**60), "negative absurd"), (-5, "negative"), (2**31, "2 GiB"),
])
def test_absurd_and_negative_lengths_are_deserialization_errors(
        serde: AvroSerde, length: int, what: str) -> None:
    data = serde.serialize(MILESTONES, sample(RECORD))
    event_id = sample(RECORD).event_id.encode()
    start = data.index(event_id) - 1  # the varint length of the first string field
    assert data[start:start + 1] == zigzag(len(event_id))
    crafted = data[:start] + zigzag(length) + data[start + 1:]
    with pytest.raises(DecodeError, match="not valid Avro") as caught:
        serde.deserialize(MILESTONES, crafted)
    assert caught.value.category is Category.DESERIALIZATION


def nested_arrays(depth: int) -> dict[str, object]:
    items: object = "long"
    for _ in range(depth):
        items = {"type": "array", "items": items}
    return {"type": "record", "name": "Deep", "namespace": "evil",
            "fields": [{"name": "a", "type": items}]}


@pytest.mark.parametrize(("schema_text", "problem"), [
    # 12 nested arrays are 24 nested blocks in the compiled reader: Python's compiler refused
    # them with a SyntaxError that escaped the serde
    (json.dumps(nested_arrays(12)), "not valid Avro"),
    (json.dumps(nested_arrays(100)), "nests deeper than 64 levels"),
    ('{"type": "array", "items": ' * 5000 + '"long"' + "}" * 5000, "nested deeper than 64"),
    (json.dumps({"type": "record", "name": "Nulls", "fields": [
        {"name": "a", "type": {"type": "array", "items": "null"}}]}), "items take no bytes"),
    (json.dumps({"type": "record", "name": "Empty", "fields": [
        {"name": "a", "type": {"type": "array", "items": {
            "type": "record", "name": "Nothing", "fields": []}}}]}), "items take no bytes"),
    (json.dumps({"type": "record", "name": "Odd", "fields": [{"name": "a", "type": "nope"}]}),
     "refused: UnknownType: nope"),
], ids=["12-deep", "100-deep", "json-5000-deep", "array-of-null", "array-of-empty", "unknown"])
def test_writer_schemas_that_would_crash_or_hang_the_decoder_are_refused(
        serde: AvroSerde, registry: RegistryDouble, schema_text: str, problem: str) -> None:
    serde.serialize(MILESTONES, sample(RECORD))
    schema_id = registry.register(MILESTONES.value_subject, schema_text)
    # two bytes of block count would be 8,000 nulls; ten bytes 2^62 of them
    with pytest.raises(DecodeError, match=problem) as caught:
        serde.deserialize(MILESTONES, struct.pack(">bI", 0, schema_id) + zigzag(2**62))
    assert caught.value.category is Category.DESERIALIZATION
    assert MILESTONES.name in str(caught.value)
