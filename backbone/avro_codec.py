"""Avro binary encoding and decoding compiled once per schema: the serde's fast path.

fastavro interprets the schema on every record, and to pick a union branch it *validates* the
value against each candidate, nested records included, so writing one ShipmentMilestone costs
~90 µs and reading it ~50 µs (bench/README.md, processors). Our schemas use a small part of
Avro: records, enums, arrays, maps, fixed, primitives, unions of ``null`` and one other type,
and the logical types decimal (bytes), timestamp-millis, date and uuid. :func:`compile_schema`
turns such a schema into a tree of small closures once; a union then costs one ``is None``.

Same bytes, same values: :class:`Codec` writes what ``fastavro.schemaless_writer`` writes and
reads what ``fastavro.schemaless_reader`` returns (tests/unit/test_avro_codec.py compares both
over every canonical event and generated values). It is only a fast path: when a value or a
record does not fit it (a type the compiled tree does not expect, truncated or garbage bytes),
the codec hands the record to fastavro, so errors and corner cases stay exactly fastavro's. A
schema outside the supported part raises :class:`Unsupported` and the caller keeps fastavro.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Context, Decimal
from io import BytesIO
from typing import Any

import fastavro

Writer = Callable[[bytearray, Any], None]
Reader = Callable[[bytes, int], tuple[Any, int]]

_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_FLOAT = struct.Struct("<f")
_DOUBLE = struct.Struct("<d")


class Unsupported(ValueError):
    """The schema uses Avro the compiled codec does not cover (fastavro handles it)."""


class Codec:
    """Encoder and decoder of one Avro schema (a JSON dict, as registered)."""

    def __init__(self, schema: Any, parsed: Any = None) -> None:
        """``parsed``: the schema already parsed by ``fastavro.parse_schema``, if at hand."""
        self._write, self._read = _Compiler().compile(schema, "")
        self._parsed = parsed if parsed is not None else fastavro.parse_schema(schema)

    def encode(self, datum: Any, out: bytearray | None = None) -> bytearray:
        """Appends the Avro binary of ``datum`` to ``out`` (a new bytearray by default)."""
        out = bytearray() if out is None else out
        start = len(out)
        try:
            self._write(out, datum)
        except Exception:  # fastavro decides: it writes or raises its own error
            del out[start:]
            buffer = BytesIO()
            fastavro.schemaless_writer(buffer, self._parsed, datum)
            out += buffer.getvalue()
        return out

    def decode(self, data: bytes, offset: int = 0) -> tuple[Any, int]:
        """(value, end offset) of the Avro binary in ``data`` starting at ``offset``."""
        try:
            return self._read(data, offset)
        except Exception:  # fastavro decides: it reads or raises its own error
            buffer = BytesIO(data)
            buffer.seek(offset)
            value = fastavro.schemaless_reader(buffer, self._parsed)
            return value, buffer.tell()


# -- primitives ---------------------------------------------------------------------------------


def write_long(out: bytearray, value: int) -> None:
    value = (value << 1) ^ (value >> 63)
    if not 0 <= value < 1 << 64:
        raise OverflowError("long out of range")
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def read_long(data: bytes, pos: int) -> tuple[int, int]:
    byte = data[pos]
    pos += 1
    value = byte & 0x7F
    shift = 7
    while byte & 0x80:
        if shift > 63:
            raise ValueError("varint longer than 10 bytes")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
    return (value >> 1) ^ -(value & 1), pos


def _write_null(out: bytearray, value: Any) -> None:
    if value is not None:
        raise TypeError("null expected")


def _read_null(data: bytes, pos: int) -> tuple[Any, int]:
    return None, pos


def _write_boolean(out: bytearray, value: Any) -> None:
    if value is True:
        out.append(1)
    elif value is False:
        out.append(0)
    else:
        raise TypeError("bool expected")


def _read_boolean(data: bytes, pos: int) -> tuple[Any, int]:
    return data[pos] != 0, pos + 1


def _write_int(out: bytearray, value: Any) -> None:
    if type(value) is not int:
        raise TypeError("int expected")
    write_long(out, value)


def _write_float(out: bytearray, value: Any) -> None:
    if type(value) is not float:
        raise TypeError("float expected")
    out += _FLOAT.pack(value)


def _read_float(data: bytes, pos: int) -> tuple[Any, int]:
    return _FLOAT.unpack_from(data, pos)[0], pos + 4


def _write_double(out: bytearray, value: Any) -> None:
    if type(value) is not float:
        raise TypeError("float expected")
    out += _DOUBLE.pack(value)


def _read_double(data: bytes, pos: int) -> tuple[Any, int]:
    return _DOUBLE.unpack_from(data, pos)[0], pos + 8


def _write_bytes(out: bytearray, value: Any) -> None:
    if type(value) is not bytes:
        raise TypeError("bytes expected")
    write_long(out, len(value))
    out += value


def _read_bytes(data: bytes, pos: int) -> tuple[Any, int]:
    size, pos = read_long(data, pos)
    end = pos + size
    if size < 0 or end > len(data):
        raise EOFError("bytes past the end of the record")
    return data[pos:end], end


def _write_string(out: bytearray, value: Any) -> None:
    encoded = value.encode()  # AttributeError for a non-str: fastavro decides
    size = len(encoded)
    if size < 64:
        out.append(size << 1)
    else:
        write_long(out, size)
    out += encoded


def _read_string(data: bytes, pos: int) -> tuple[Any, int]:
    byte = data[pos]
    if byte < 0x80:
        size = (byte >> 1) ^ -(byte & 1)
        pos += 1
    else:
        size, pos = read_long(data, pos)
    end = pos + size
    if size < 0 or end > len(data):
        raise EOFError("string past the end of the record")
    return data[pos:end].decode(), end


_PRIMITIVE_CODECS: dict[str, tuple[Writer, Reader]] = {
    "null": (_write_null, _read_null),
    "boolean": (_write_boolean, _read_boolean),
    "int": (_write_int, read_long),
    "long": (_write_int, read_long),
    "float": (_write_float, _read_float),
    "double": (_write_double, _read_double),
    "bytes": (_write_bytes, _read_bytes),
    "string": (_write_string, _read_string),
}


# -- logical types ------------------------------------------------------------------------------


def _timestamp_millis() -> tuple[Writer, Reader]:
    def write(out: bytearray, value: Any) -> None:
        if type(value) is datetime and value.tzinfo is not None:
            delta = value - _EPOCH
            write_long(out, (delta.days * 86_400 + delta.seconds) * 1000
                       + delta.microseconds // 1000)
        elif type(value) is int:
            write_long(out, value)
        else:
            raise TypeError("aware datetime expected")  # naive: fastavro's local-time rule

    def read(data: bytes, pos: int) -> tuple[Any, int]:
        millis, pos = read_long(data, pos)
        return _EPOCH + timedelta(microseconds=millis * 1000), pos

    return write, read


def _date() -> tuple[Writer, Reader]:
    def write(out: bytearray, value: Any) -> None:
        if type(value) is date:
            write_long(out, value.toordinal() - _EPOCH_ORDINAL)
        elif type(value) is int:
            write_long(out, value)
        else:
            raise TypeError("date expected")

    def read(data: bytes, pos: int) -> tuple[Any, int]:
        days, pos = read_long(data, pos)
        return date.fromordinal(days + _EPOCH_ORDINAL), pos

    return write, read


def _uuid() -> tuple[Writer, Reader]:
    def write(out: bytearray, value: Any) -> None:
        _write_string(out, str(value) if type(value) is uuid.UUID else value)

    def read(data: bytes, pos: int) -> tuple[Any, int]:
        text, pos = _read_string(data, pos)
        return uuid.UUID(text), pos

    return write, read


def _decimal(precision: int, scale: int) -> tuple[Writer, Reader]:
    context = Context(prec=precision)
    power = 10**scale

    def write(out: bytearray, value: Any) -> None:
        if type(value) is not Decimal:
            _write_bytes(out, value)
            return
        sign, digits, exponent = value.as_tuple()
        if len(digits) > precision or not isinstance(exponent, int) or exponent + scale < 0:
            raise ValueError("decimal does not fit the schema")  # fastavro words it
        numerator, denominator = value.as_integer_ratio()
        unscaled = abs(numerator) * power // denominator
        size = (unscaled.bit_length() + 8) // 8
        _write_bytes(out, (-unscaled if sign else unscaled).to_bytes(size, "big", signed=True))

    def read(data: bytes, pos: int) -> tuple[Any, int]:
        raw, pos = _read_bytes(data, pos)
        unscaled = int.from_bytes(raw, "big", signed=True)
        return context.create_decimal(unscaled).scaleb(-scale, context), pos

    return write, read


# -- complex types ------------------------------------------------------------------------------


def _record(fields: list[tuple[str, Writer, Reader]]) -> tuple[Writer, Reader]:
    writers = [(name, write) for name, write, _ in fields]
    readers = [(name, read) for name, _, read in fields]

    def write(out: bytearray, value: Any) -> None:
        for name, write_field in writers:
            write_field(out, value[name])  # KeyError for a missing field: fastavro decides

    def read(data: bytes, pos: int) -> tuple[Any, int]:
        record = {}
        for name, read_field in readers:
            record[name], pos = read_field(data, pos)
        return record, pos

    return write, read


def _enum(symbols: list[str]) -> tuple[Writer, Reader]:
    index = {symbol: bytes([position << 1]) if position < 64 else None
             for position, symbol in enumerate(symbols)}

    def write(out: bytearray, value: Any) -> None:
        encoded = index[value]  # KeyError for an unknown symbol: fastavro decides
        if encoded is None:
            write_long(out, symbols.index(value))
        else:
            out += encoded

    def read(data: bytes, pos: int) -> tuple[Any, int]:
        position, pos = read_long(data, pos)
        if position < 0:
            raise IndexError("negative enum index")
        return symbols[position], pos

    return write, read


def _blocks(data: bytes, pos: int) -> tuple[int, int]:
    """(item count, position) of the next array or map block; a negative count has a size."""
    count, pos = read_long(data, pos)
    if count < 0:
        count = -count
        _, pos = read_long(data, pos)
    if count > len(data) - pos:  # every item takes at least one byte in our schemas
        raise EOFError("block count larger than the bytes left")
    return count, pos


def _array(items: tuple[Writer, Reader]) -> tuple[Writer, Reader]:
    write_item, read_item = items

    def write(out: bytearray, value: Any) -> None:
        if type(value) is not list and type(value) is not tuple:
            raise TypeError("list expected")
        if value:
            write_long(out, len(value))
            for item in value:
                write_item(out, item)
        out.append(0)

    def read(data: bytes, pos: int) -> tuple[Any, int]:
        result = []
        count, pos = _blocks(data, pos)
        while count:
            for _ in range(count):
                item, pos = read_item(data, pos)
                result.append(item)
            count, pos = _blocks(data, pos)
        return result, pos

    return write, read


def _map(values: tuple[Writer, Reader]) -> tuple[Writer, Reader]:
    write_value, read_value = values

    def write(out: bytearray, value: Any) -> None:
        if type(value) is not dict:
            raise TypeError("dict expected")
        if value:
            write_long(out, len(value))
            for key, item in value.items():
                _write_string(out, key)
                write_value(out, item)
        out.append(0)

    def read(data: bytes, pos: int) -> tuple[Any, int]:
        result = {}
        count, pos = _blocks(data, pos)
        while count:
            for _ in range(count):
                key, pos = _read_string(data, pos)
                result[key], pos = read_value(data, pos)
            count, pos = _blocks(data, pos)
        return result, pos

    return write, read


def _fixed(size: int) -> tuple[Writer, Reader]:
    def write(out: bytearray, value: Any) -> None:
        if type(value) is not bytes or len(value) != size:
            raise TypeError(f"{size} bytes expected")
        out += value

    def read(data: bytes, pos: int) -> tuple[Any, int]:
        end = pos + size
        if end > len(data):
            raise EOFError("fixed past the end of the record")
        return data[pos:end], end

    return write, read


def _optional(null_index: int, other: tuple[Writer, Reader]) -> tuple[Writer, Reader]:
    """A union of null and one other type, in either order."""
    write_other, read_other = other
    null_tag, other_tag = (0, 2) if null_index == 0 else (2, 0)

    def write(out: bytearray, value: Any) -> None:
        if value is None:
            out.append(null_tag)
        else:
            out.append(other_tag)
            write_other(out, value)

    def read(data: bytes, pos: int) -> tuple[Any, int]:
        tag = data[pos]
        if tag == null_tag:
            return None, pos + 1
        if tag == other_tag:
            return read_other(data, pos + 1)
        raise IndexError(f"union branch tag {tag} out of range")

    return write, read


# -- the compiler -------------------------------------------------------------------------------


class _Compiler:
    """Walks one schema; named types are compiled at their definition and reused by name."""

    def __init__(self) -> None:
        self.named: dict[str, tuple[Writer, Reader]] = {}
        self.open: set[str] = set()  # records being compiled: a reference to one is recursion

    def compile(self, schema: Any, namespace: str) -> tuple[Writer, Reader]:
        if isinstance(schema, str):
            return self._reference(schema, namespace)
        if isinstance(schema, list):
            return self._union(schema, namespace)
        if not isinstance(schema, dict):
            raise Unsupported(f"not a schema: {schema!r:.60}")
        kind = schema.get("type")
        logical = schema.get("logicalType")
        if logical is not None and isinstance(kind, str):
            return self._logical(schema, kind, logical)
        if kind in ("record", "error"):
            return self._record(schema, namespace)
        if kind == "enum":
            name = self._full_name(schema, namespace)
            codec = _enum(list(schema["symbols"]))
            self.named[name] = codec
            return codec
        if kind == "fixed":
            name = self._full_name(schema, namespace)
            codec = _fixed(int(schema["size"]))
            self.named[name] = codec
            return codec
        if kind == "array":
            return _array(self.compile(schema["items"], namespace))
        if kind == "map":
            return _map(self.compile(schema["values"], namespace))
        return self.compile(kind, namespace)

    def _reference(self, name: str, namespace: str) -> tuple[Writer, Reader]:
        if name in _PRIMITIVE_CODECS:
            return _PRIMITIVE_CODECS[name]
        for candidate in (name, f"{namespace}.{name}" if namespace else name):
            if candidate in self.open:
                raise Unsupported(f"recursive type {candidate}")
            if candidate in self.named:
                return self.named[candidate]
        raise Unsupported(f"unknown or forward-referenced type {name!r}")

    def _union(self, branches: list[Any], namespace: str) -> tuple[Writer, Reader]:
        nulls = [index for index, branch in enumerate(branches) if branch == "null"]
        if len(branches) != 2 or len(nulls) != 1:
            raise Unsupported("only unions of null and one other type are compiled")
        return _optional(nulls[0], self.compile(branches[1 - nulls[0]], namespace))

    def _record(self, schema: dict[str, Any], namespace: str) -> tuple[Writer, Reader]:
        name = self._full_name(schema, namespace)
        inner = name.rpartition(".")[0]
        self.open.add(name)
        fields = [(str(field["name"]), *self.compile(field["type"], inner))
                  for field in schema["fields"]]
        self.open.discard(name)
        codec = _record(fields)
        self.named[name] = codec
        return codec

    def _logical(self, schema: dict[str, Any], kind: str, logical: str) -> tuple[Writer, Reader]:
        if logical == "timestamp-millis" and kind == "long":
            return _timestamp_millis()
        if logical == "date" and kind == "int":
            return _date()
        if logical == "uuid" and kind == "string":
            return _uuid()
        if logical == "decimal" and kind == "bytes":
            return _decimal(int(schema["precision"]), int(schema.get("scale", 0)))
        if logical in ("decimal", "time-millis", "time-micros", "timestamp-micros",
                       "timestamp-nanos", "local-timestamp-millis", "local-timestamp-micros",
                       "local-timestamp-nanos", "duration"):
            raise Unsupported(f"logical type {logical} on {kind}")
        return self.compile(kind, "")  # an unknown logical type reads as its base type

    @staticmethod
    def _full_name(schema: dict[str, Any], namespace: str) -> str:
        name = str(schema["name"])
        if "." in name:
            return name
        space = schema.get("namespace", namespace)
        return f"{space}.{name}" if space else name

