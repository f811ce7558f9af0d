"""The compiled codec writes fastavro's bytes, reads fastavro's values, and leaves the rest to it.

Three sources of values: the samples of every canonical event, values generated at random from
every event schema (edges included: long strings and arrays whose lengths take several varint
bytes, negative and pre-1970 numbers, decimals at every scale, maps), and corrupted encodings.
"""

from __future__ import annotations

import io
import random
import string
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import fastavro
import pytest

from backbone import schemas
from backbone.avro_codec import Codec, Unsupported, read_long, write_long
from backbone.samples import sample

RECORDS = schemas.event_records()


def _fastavro_bytes(record: str, datum: Any) -> bytes:
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, schemas.parsed(record), datum)
    return buffer.getvalue()


def _fastavro_read(record: str, data: bytes) -> tuple[Any, int]:
    buffer = io.BytesIO(data)
    value = fastavro.schemaless_reader(buffer, schemas.parsed(record))
    return value, buffer.tell()


def _codec(record: str) -> Codec:
    return Codec(schemas.load(record), schemas.parsed(record))


def _same(a: Any, b: Any) -> bool:
    """Equal values of equal types all the way down (Decimal('1.0') != Decimal('1.00') here)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return bool(a.keys() == b.keys()) and all(_same(a[key], b[key]) for key in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Decimal):
        return bool(a.as_tuple() == b.as_tuple())
    if isinstance(a, datetime):
        return bool(a == b and a.tzinfo == b.tzinfo)
    return bool(a == b)


# -- generated values ---------------------------------------------------------------------------


class _Values:
    """Random values valid for a schema, by the schema's own types (named types by full name)."""

    def __init__(self, rng: random.Random, schema: Any) -> None:
        self.rng = rng
        self.named: dict[str, Any] = {}
        self.long_array = False
        self._define(schema, "")  # a type may be defined in a branch that is not generated

    def _define(self, schema: Any, namespace: str) -> None:
        if isinstance(schema, list):
            for branch in schema:
                self._define(branch, namespace)
        if not isinstance(schema, dict):
            return
        if schema.get("type") in ("record", "enum", "fixed"):
            name = schema["name"] if "." in schema["name"] else \
                f"{schema.get('namespace', namespace)}.{schema['name']}"
            self.named.setdefault(name, schema)
            namespace = name.rpartition(".")[0]
        for field in schema.get("fields", []):
            self._define(field["type"], namespace)
        for key in ("items", "values", "type"):
            if isinstance(schema.get(key), dict | list):
                self._define(schema[key], namespace)

    def of(self, schema: Any, namespace: str = "") -> Any:
        rng = self.rng
        if isinstance(schema, list):
            other = next(branch for branch in schema if branch != "null")
            return None if rng.random() < 0.3 else self.of(other, namespace)
        if isinstance(schema, str):
            if schema in self.named:
                return self.of(self.named[schema], schema.rpartition(".")[0])
            if f"{namespace}.{schema}" in self.named:
                return self.of(self.named[f"{namespace}.{schema}"], namespace)
            return self._primitive(schema)
        kind, logical = schema["type"], schema.get("logicalType")
        if logical == "timestamp-millis":
            return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(
                milliseconds=rng.randint(-10**12, 4 * 10**12))
        if logical == "date":
            return date(1970, 1, 1) + timedelta(days=rng.randint(-20_000, 60_000))
        if logical == "uuid":
            return str(uuid.UUID(int=rng.getrandbits(128)))
        if logical == "decimal":
            scale, precision = schema.get("scale", 0), schema["precision"]
            digits = rng.randint(1, precision)
            unscaled = rng.randint(-(10**digits) + 1, 10**digits - 1)
            return Decimal(unscaled).scaleb(-rng.randint(0, min(scale, digits)))
        if kind in ("record", "enum", "fixed"):
            name = schema["name"] if "." in schema["name"] else \
                f"{schema.get('namespace', namespace)}.{schema['name']}"
            namespace = name.rpartition(".")[0]
        if kind == "record":
            return {field["name"]: self.of(field["type"], namespace) for field in schema["fields"]}
        if kind == "enum":
            return rng.choice(schema["symbols"])
        if kind == "array":  # one long array per value: its count takes two varint bytes
            size = rng.choice([0, 1, 2, 70 if not self.long_array else 3])
            self.long_array = self.long_array or size == 70
            return [self.of(schema["items"], namespace) for _ in range(size)]
        if kind == "map":
            return {self._text(): self.of(schema["values"], namespace)
                    for _ in range(rng.choice([0, 1, 3]))}
        return self.of(kind, namespace)

    def _primitive(self, kind: str) -> Any:
        rng = self.rng
        if kind == "string":
            return self._text()
        if kind in ("int", "long"):
            bits = 31 if kind == "int" else 63
            return rng.choice([0, -1, 63, 64, -65, rng.randint(-(2**bits), 2**bits - 1)])
        if kind == "boolean":
            return rng.random() < 0.5
        if kind == "bytes":
            return rng.randbytes(rng.choice([0, 5, 200]))
        if kind in ("float", "double"):
            return rng.uniform(-1e6, 1e6)
        raise AssertionError(f"no generator for {kind}")

    def _text(self) -> str:
        size = self.rng.choice([0, 1, 63, 64, 300])
        return "".join(self.rng.choice(string.ascii_letters + "äß€😀 ") for _ in range(size))


# -- same bytes, same values --------------------------------------------------------------------


@pytest.mark.parametrize("record", RECORDS)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_samples_encode_and_decode_like_fastavro(record: str, seed: int) -> None:
    codec = _codec(record)
    datum = sample(record, seed=seed).to_avro()
    expected = _fastavro_bytes(record, datum)
    assert bytes(codec.encode(datum)) == expected
    value, end = codec._read(expected, 0)  # the compiled path alone, no fallback
    assert end == len(expected)
    assert _same(value, _fastavro_read(record, expected)[0])


@pytest.mark.parametrize("record", RECORDS)
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_events_encode_from_their_attributes_like_fastavro(record: str, seed: int) -> None:
    event = sample(record, seed=seed)
    out = bytearray()
    _codec(record)._write_object(out, event)  # the attribute path alone, no fallback
    assert bytes(out) == _fastavro_bytes(record, event.to_avro())


def test_an_object_that_does_not_fit_is_encoded_from_its_dict() -> None:
    record = RECORDS[0]
    event = sample(record, seed=1)
    calls = []

    def as_dict() -> Any:
        calls.append(1)
        return event.to_avro()

    assert bytes(_codec(record).encode_object(object(), bytearray(), as_dict)) == \
        _fastavro_bytes(record, event.to_avro())
    assert calls == [1]


@pytest.mark.parametrize("record", RECORDS)
def test_generated_values_encode_and_decode_like_fastavro(record: str) -> None:
    codec = _codec(record)
    rng = random.Random(record)
    for _ in range(60):
        schema = schemas.load(record)
        datum = _Values(rng, schema).of(schema)
        expected = _fastavro_bytes(record, datum)
        out = bytearray()
        codec._write(out, datum)  # the compiled path alone
        assert bytes(out) == expected
        value, end = codec._read(expected, 0)
        assert end == len(expected)
        assert _same(value, _fastavro_read(record, expected)[0])


@pytest.mark.parametrize("value", [0, 1, -1, 63, -64, 64, 2**31, -(2**63), 2**63 - 1])
def test_longs_round_trip(value: int) -> None:
    out = bytearray()
    write_long(out, value)
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, "long", value)
    assert bytes(out) == buffer.getvalue()
    assert read_long(bytes(out), 0) == (value, len(out))


def test_a_long_past_64_bits_is_refused() -> None:
    with pytest.raises(OverflowError):
        write_long(bytearray(), 2**63)


# -- bad bytes: the compiled path never succeeds where fastavro would not -----------------------


@pytest.mark.parametrize("record", RECORDS)
def test_corrupted_bytes_decode_as_fastavro_decides(record: str) -> None:
    codec = _codec(record)
    rng = random.Random(f"corrupt {record}")
    valid = _fastavro_bytes(record, sample(record, seed=1).to_avro())
    variants = [valid[:cut] for cut in range(0, len(valid), 7)]
    for _ in range(150):
        mutated = bytearray(valid)
        for _ in range(rng.randint(1, 4)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        variants.append(bytes(mutated))
    variants += [rng.randbytes(rng.randint(1, 400)) for _ in range(50)]
    for data in variants:
        try:
            fast = codec._read(data, 0)
        except Exception:  # the fallback then asks fastavro; checked below
            fast = None
        try:
            slow: tuple[Any, int] | None = _fastavro_read(record, data)
            slow_error: type[BaseException] | None = None
        except Exception as error:
            slow, slow_error = None, type(error)
        if fast is not None:
            assert slow is not None, f"compiled read accepted {data!r:.80} fastavro refuses"
            assert fast[1] == slow[1] and _same(fast[0], slow[0])
        if slow_error is not None:  # the public decode raises fastavro's own error
            with pytest.raises(slow_error):
                codec.decode(data)


# -- fallback and scope -------------------------------------------------------------------------


def test_values_outside_the_fast_path_are_written_by_fastavro() -> None:
    record = RECORDS[0]
    datum = sample(record, seed=1).to_avro()
    naive = dict(datum, occurred_at=datum["occurred_at"].replace(tzinfo=None))
    assert bytes(_codec(record).encode(naive)) == _fastavro_bytes(record, naive)


def test_a_bad_value_raises_fastavros_error_and_leaves_the_buffer_as_it_was() -> None:
    record = RECORDS[0]
    datum = dict(sample(record, seed=1).to_avro(), event_type=42)
    out = bytearray(b"head")
    with pytest.raises(Exception) as raised:
        _codec(record).encode(datum, out)
    with pytest.raises(type(raised.value)):
        _fastavro_bytes(record, datum)
    assert out == b"head"


@pytest.mark.parametrize("schema", [
    {"type": "record", "name": "Node", "fields": [
        {"name": "next", "type": ["null", "Node"]}]},
    {"type": "record", "name": "Choice", "fields": [
        {"name": "value", "type": ["null", "string", "long"]}]},
    {"type": "record", "name": "Money", "fields": [{"name": "amount", "type": {
        "type": "fixed", "name": "Amount", "size": 8, "logicalType": "decimal",
        "precision": 18, "scale": 2}}]},
])
def test_schemas_outside_the_compiled_part_are_refused(schema: dict[str, Any]) -> None:
    with pytest.raises(Unsupported):
        Codec(schema)


def test_field_names_are_data_not_code() -> None:
    name = "x'] + __import__('os').getpid() + record['"
    codec = Codec({"type": "record", "name": "Odd", "fields": [{"name": name, "type": "string"}]})
    encoded = codec.encode({name: "value"})
    assert codec._read(bytes(encoded), 0) == ({name: "value"}, len(encoded))  # compiled path
    holder = SimpleNamespace()
    setattr(holder, name, "value")
    from_attributes = bytearray()
    codec._write_object(from_attributes, holder)  # getattr with the name as a literal
    assert from_attributes == encoded
