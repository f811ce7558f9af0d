"""Avro binary encoding and decoding compiled once per schema: the serde's fast path.

fastavro interprets the schema on every record, and to pick a union branch it *validates* the
value against each candidate, nested records included, so writing one ShipmentMilestone costs
~90 µs and reading it ~50 µs (bench/README.md, processors). Our schemas use a small part of
Avro: records, enums, arrays, maps, fixed, primitives, unions of ``null`` and one other type,
and the logical types decimal (bytes), timestamp-millis, date and uuid. :class:`Codec` turns
such a schema into Python source once, a reading and a writing function per record with every
field inlined (``Codec.source`` shows it), so a union costs one ``is None`` and a short string
one slice.

Same bytes, same values: :class:`Codec` writes what ``fastavro.schemaless_writer`` writes and
reads what ``fastavro.schemaless_reader`` returns (tests/unit/test_avro_codec.py compares both
over every canonical event and generated values). It is only a fast path: when a value or a
record does not fit it (a type the compiled code does not expect, truncated or garbage bytes),
the codec hands the record to fastavro, so errors and corner cases stay exactly fastavro's. A
schema outside the supported part raises :class:`Unsupported` and the caller keeps fastavro.

One exception to handing over: bytes that would make any reader spend seconds or minutes
(a decimal whose bytes hold far more digits than its precision: turning a 1 MB integer into
a Decimal takes minutes) raise :class:`Refused`, which reaches the caller as it is.
"""

from __future__ import annotations

import keyword
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
_UNSUPPORTED_LOGICAL = frozenset({
    "time-millis", "time-micros", "timestamp-micros", "timestamp-nanos", "local-timestamp-millis",
    "local-timestamp-micros", "local-timestamp-nanos", "duration",
})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_FLOAT = struct.Struct("<f")
_DOUBLE = struct.Struct("<d")


class Unsupported(ValueError):
    """The schema uses Avro the compiled codec does not cover (fastavro handles it)."""


class Refused(ValueError):
    """Bytes no reader should decode (see the module docstring); never handed to fastavro."""


class Codec:
    """Encoder and decoder of one Avro schema (a JSON dict, as registered)."""

    def __init__(self, schema: Any, parsed: Any = None) -> None:
        """``parsed``: the schema already parsed by ``fastavro.parse_schema``, if at hand."""
        generator = _Generator()
        top = generator.top(schema)
        self.source = generator.source()
        scope = generator.constants | _RUNTIME
        # the only text from the schema in the source is field names: as Python literals
        # (repr), or as an attribute name when one is a plain identifier (str.isidentifier,
        # not a keyword), so a writer schema from the registry cannot inject code
        try:
            code = compile(self.source, "<avro codec>", "exec")
        except (SyntaxError, RecursionError) as error:
            # arrays, maps and unions nest blocks in one function; Python allows 20
            raise Unsupported(f"schema nests too deeply to compile ({error})") from None
        exec(code, scope)
        self._write: Writer = scope[f"write_{top}"]
        self._write_object: Writer = scope[f"write_object_{top}"]
        self._read: Reader = scope[f"read_{top}"]
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

    def encode_object(self, value: Any, out: bytearray, as_dict: Callable[[], Any]) -> bytearray:
        """Appends the Avro binary of an object whose attributes are the record's fields (a
        canonical event: no dump to a dict first); ``as_dict()`` when it does not fit."""
        start = len(out)
        try:
            self._write_object(out, value)
        except Exception:  # the dict path decides, and fastavro after it
            del out[start:]
            return self.encode(as_dict(), out)
        return out

    def decode(self, data: bytes, offset: int = 0) -> tuple[Any, int]:
        """(value, end offset) of the Avro binary in ``data`` starting at ``offset``."""
        try:
            return self._read(data, offset)
        except Refused:
            raise
        except Exception:  # fastavro decides: it reads or raises its own error
            buffer = BytesIO(data)
            buffer.seek(offset)
            value = fastavro.schemaless_reader(buffer, self._parsed)
            return value, buffer.tell()


# -- run-time helpers of the generated code ----------------------------------------------------


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


def _blocks(data: bytes, pos: int) -> tuple[int, int]:
    """(item count, position) of the next array or map block; a negative count has a size."""
    count, pos = read_long(data, pos)
    if count < 0:
        count = -count
        _, pos = read_long(data, pos)
    if count > len(data) - pos:  # every item takes at least one byte in the schemas compiled
        raise EOFError("block count larger than the bytes left")
    return count, pos


def decimal_bytes_limit(precision: int) -> int:
    """Longest decimal bytes read without a look at their value: twice the minimal
    two's-complement length of ``precision`` digits (decimal(18, s) needs 8), at least 64.

    Below it a value is read as fastavro reads it, rounded to ``precision`` when a writer put
    more digits in; the conversion to Decimal is quadratic in the length, so far beyond it
    (a 1 MB decimal takes minutes) only a value that fits is read."""
    largest: int = 10**precision - 1
    return max(64, 2 * ((largest.bit_length() + 8) // 8))


def _fit_unscaled(raw: bytes, precision: int) -> int:
    """The unscaled integer of decimal bytes over the limit above: padded with sign bytes it
    is read; holding more digits than ``precision``, Refused (int.from_bytes is linear)."""
    unscaled = int.from_bytes(raw, "big", signed=True)
    if abs(unscaled) >= 10**precision:
        raise Refused(f"a decimal of {len(raw)} bytes holds more than its {precision} digits")
    return unscaled


def _decimal_bytes(value: Any, precision: int, scale: int) -> Any:
    """fastavro's bytes of a Decimal (same length rule); anything else passes through."""
    if type(value) is not Decimal:
        return value
    sign, digits, exponent = value.as_tuple()
    if len(digits) > precision or not isinstance(exponent, int) or exponent + scale < 0:
        raise ValueError("decimal does not fit the schema")  # fastavro words it
    numerator, denominator = value.as_integer_ratio()
    unscaled = abs(numerator) * 10**scale // denominator
    size = (unscaled.bit_length() + 8) // 8
    return (-unscaled if sign else unscaled).to_bytes(size, "big", signed=True)


_RUNTIME: dict[str, Any] = {
    "write_long": write_long, "read_long": read_long, "blocks": _blocks,
    "decimal_bytes": _decimal_bytes, "fit_unscaled": _fit_unscaled, "EPOCH": _EPOCH,
    "EPOCH_ORDINAL": _EPOCH_ORDINAL,
    "timedelta": timedelta, "date": date, "datetime": datetime, "Decimal": Decimal,
    "UUID": uuid.UUID, "FLOAT": _FLOAT, "DOUBLE": _DOUBLE,
}


# -- the generator ------------------------------------------------------------------------------


class _Generator:
    """Writes the source of one schema: ``read_<n>`` / ``write_<n>`` per named record.

    ``_read(schema, target)`` returns lines that leave the value in ``target`` and move ``pos``;
    ``_write(schema, value, prefix)`` returns lines that append the encoding of ``value`` to
    ``out``; records are written by ``write_<n>`` from a dict, by ``write_object_<n>`` from an
    object's attributes.
    Constants (enum symbols, decimal contexts) are passed to the code by name.
    """

    def __init__(self) -> None:
        self.functions: list[str] = []
        self.constants: dict[str, Any] = {}
        self.records: dict[str, int] = {}  # full name -> function number
        self.types: dict[str, Any] = {}  # full name -> (schema, namespace) of enums and fixed
        self.open: set[str] = set()  # records being generated: a reference is recursion
        self._names = 0

    def top(self, schema: Any) -> int:
        """Generates everything the record ``schema`` needs; the number of its functions."""
        if not (isinstance(schema, dict) and schema.get("type") in ("record", "error")):
            raise Unsupported("only records are compiled")
        return self.record(schema, "")

    def source(self) -> str:
        return "\n".join(self.functions)

    def fresh(self, stem: str) -> str:
        self._names += 1
        return f"{stem}{self._names}"

    def constant(self, value: Any) -> str:
        name = self.fresh("K")
        self.constants[name] = value
        return name

    # -- named types ------------------------------------------------------------------------

    def record(self, schema: dict[str, Any], namespace: str) -> int:
        name = _full_name(schema, namespace)
        inner = name.rpartition(".")[0]
        self.open.add(name)
        reads, writes, object_writes, names = [], [], [], []
        for field in schema["fields"]:
            target, field_name = self.fresh("f"), str(field["name"])
            names.append(f"{field_name!r}: {target}")
            reads += self._read(field["type"], target, inner)
            writes += [f"{target} = record[{field_name!r}]",
                       *self._write(field["type"], target, inner, "write")]
            attribute = f"record.{field_name}" if field_name.isidentifier() and not \
                keyword.iskeyword(field_name) else f"getattr(record, {field_name!r})"
            object_writes += [f"{target} = {attribute}",
                              *self._write(field["type"], target, inner, "write_object")]
        self.open.discard(name)
        number = len(self.records)
        self.records[name] = number
        self.functions.append(_function(
            f"read_{number}(data, pos)", ["size = len(data)", *reads,
                                          f"return {{{', '.join(names)}}}, pos"]))
        self.functions.append(_function(f"write_{number}(out, record)", writes or ["pass"]))
        self.functions.append(_function(f"write_object_{number}(out, record)",
                                        object_writes or ["pass"]))
        return number

    def _record_number(self, schema: dict[str, Any], namespace: str) -> int:
        """A record defined inline: generated at its first use (reading), reused after."""
        found = self.records.get(_full_name(schema, namespace))
        return found if found is not None else self.record(schema, namespace)

    def named(self, reference: str, namespace: str) -> tuple[str, Any]:
        """('record', number) or ('type', schema) for a reference to a defined type."""
        for name in (reference, f"{namespace}.{reference}" if namespace else reference):
            if name in self.open:
                raise Unsupported(f"recursive type {name}")
            if name in self.records:
                return "record", self.records[name]
            if name in self.types:
                return "type", self.types[name]
        raise Unsupported(f"unknown or forward-referenced type {reference!r}")

    def _declare(self, schema: dict[str, Any], namespace: str) -> None:
        """Remembers an enum or fixed defined here (later uses name it); refuses a logical type
        on fixed (decimal or duration there: fastavro's)."""
        kind = schema.get("type")
        if kind in ("enum", "fixed") and _full_name(schema, namespace) not in self.types:
            self.types[_full_name(schema, namespace)] = schema
        if kind == "fixed" and schema.get("logicalType") is not None:
            raise Unsupported(f"logical type {schema['logicalType']} on fixed")

    # -- reading ----------------------------------------------------------------------------

    def _read(self, schema: Any, target: str, namespace: str) -> list[str]:
        if isinstance(schema, list):
            null_tag, other_tag, other = _optional(schema)
            return [
                "tag = data[pos]", "pos += 1",
                f"if tag == {null_tag}:", f"    {target} = None",
                f"elif tag == {other_tag}:",
                *_indent(self._read(other, target, namespace)),
                "else:", "    raise IndexError('union branch out of range')",
            ]
        if isinstance(schema, str):
            if schema in _PRIMITIVES:
                return _read_primitive(schema, target)
            kind, found = self.named(schema, namespace)
            if kind == "record":
                return [f"{target}, pos = read_{found}(data, pos)"]
            return self._read(found, target, namespace)
        kind, logical = schema.get("type"), schema.get("logicalType")
        if kind in ("record", "error"):
            return [f"{target}, pos = read_{self._record_number(schema, namespace)}(data, pos)"]
        self._declare(schema, namespace)
        if logical is not None and isinstance(kind, str) and kind in _PRIMITIVES:
            return self._read_logical(schema, kind, logical, target)
        if kind == "enum":
            symbols = self.constant(tuple(schema["symbols"]))
            return [*_read_primitive("long", "index"),
                    "if index < 0:", "    raise IndexError('negative enum index')",
                    f"{target} = {symbols}[index]"]
        if kind == "fixed":
            return [f"end = pos + {int(schema['size'])}",
                    "if end > size:", "    raise EOFError('fixed past the end of the record')",
                    f"{target} = data[pos:end]", "pos = end"]
        if kind == "array":
            count, item = self.fresh("count"), self.fresh("item")
            return [f"{target} = []", f"{count}, pos = blocks(data, pos)", f"while {count}:",
                    f"    for _ in range({count}):",
                    *_indent(self._read(schema["items"], item, namespace), 2),
                    f"        {target}.append({item})", f"    {count}, pos = blocks(data, pos)"]
        if kind == "map":
            count, key, item = self.fresh("count"), self.fresh("key"), self.fresh("item")
            return [f"{target} = {{}}", f"{count}, pos = blocks(data, pos)", f"while {count}:",
                    f"    for _ in range({count}):",
                    *_indent(_read_primitive("string", key), 2),
                    *_indent(self._read(schema["values"], item, namespace), 2),
                    f"        {target}[{key}] = {item}", f"    {count}, pos = blocks(data, pos)"]
        return self._read(kind, target, namespace)

    def _read_logical(self, schema: dict[str, Any], kind: str, logical: str,
                      target: str) -> list[str]:
        if logical == "timestamp-millis" and kind == "long":
            return [*_read_primitive("long", "millis"),
                    f"{target} = EPOCH + timedelta(microseconds=millis * 1000)"]
        if logical == "date" and kind == "int":
            return [*_read_primitive("int", "days"),
                    f"{target} = date.fromordinal(days + EPOCH_ORDINAL)"]
        if logical == "uuid" and kind == "string":
            return [*_read_primitive("string", "text"), f"{target} = UUID(text)"]
        if logical == "decimal" and kind == "bytes":
            scale, precision = int(schema.get("scale", 0)), int(schema["precision"])
            context = self.constant(Context(prec=precision))
            return [*_read_primitive("bytes", "raw"),
                    f"if len(raw) > {decimal_bytes_limit(precision)}:",
                    f"    unscaled = fit_unscaled(raw, {precision})",
                    "else:",
                    "    unscaled = int.from_bytes(raw, 'big', signed=True)",
                    f"{target} = {context}.create_decimal(unscaled).scaleb({-scale}, "
                    f"{context})"]
        if logical == "decimal" or logical in _UNSUPPORTED_LOGICAL:
            raise Unsupported(f"logical type {logical} on {kind}")
        return _read_primitive(kind, target)  # an unknown logical type reads as its base type

    # -- writing ----------------------------------------------------------------------------

    def _write(self, schema: Any, value: str, namespace: str, prefix: str) -> list[str]:
        if isinstance(schema, list):
            null_tag, other_tag, other = _optional(schema)
            return [f"if {value} is None:", f"    out.append({null_tag})", "else:",
                    f"    out.append({other_tag})",
                    *_indent(self._write(other, value, namespace, prefix))]
        if isinstance(schema, str):
            if schema in _PRIMITIVES:
                return _write_primitive(schema, value)
            kind, found = self.named(schema, namespace)
            if kind == "record":
                return [f"{prefix}_{found}(out, {value})"]
            return self._write(found, value, namespace, prefix)
        kind, logical = schema.get("type"), schema.get("logicalType")
        if kind in ("record", "error"):
            return [f"{prefix}_{self._record_number(schema, namespace)}(out, {value})"]
        self._declare(schema, namespace)
        if logical is not None and isinstance(kind, str) and kind in _PRIMITIVES:
            return self._write_logical(schema, kind, logical, value)
        if kind == "enum":
            encoded = bytearray()
            codes = {}
            for index, symbol in enumerate(schema["symbols"]):
                encoded.clear()
                write_long(encoded, index)
                codes[symbol] = bytes(encoded)
            return [f"out += {self.constant(codes)}[{value}]"]
        if kind == "fixed":
            return [f"if type({value}) is not bytes or len({value}) != {int(schema['size'])}:",
                    "    raise TypeError('fixed of the wrong size')", f"out += {value}"]
        if kind == "array":
            item = self.fresh("item")
            return [f"if type({value}) is not list and type({value}) is not tuple:",
                    "    raise TypeError('list expected')",
                    f"if {value}:", f"    write_long(out, len({value}))",
                    f"    for {item} in {value}:",
                    *_indent(self._write(schema["items"], item, namespace, prefix), 2),
                    "out.append(0)"]
        if kind == "map":
            key, item = self.fresh("key"), self.fresh("item")
            return [f"if type({value}) is not dict:", "    raise TypeError('dict expected')",
                    f"if {value}:", f"    write_long(out, len({value}))",
                    f"    for {key}, {item} in {value}.items():",
                    *_indent(_write_primitive("string", key), 2),
                    *_indent(self._write(schema["values"], item, namespace, prefix), 2),
                    "out.append(0)"]
        return self._write(kind, value, namespace, prefix)

    def _write_logical(self, schema: dict[str, Any], kind: str, logical: str,
                       value: str) -> list[str]:
        if logical == "timestamp-millis" and kind == "long":
            return [f"if type({value}) is datetime and {value}.tzinfo is not None:",
                    f"    delta = {value} - EPOCH",
                    "    write_long(out, (delta.days * 86400 + delta.seconds) * 1000 "
                    "+ delta.microseconds // 1000)",
                    f"elif type({value}) is int:", f"    write_long(out, {value})",
                    "else:",  # a naive datetime: fastavro's local-time rule
                    "    raise TypeError('aware datetime expected')"]
        if logical == "date" and kind == "int":
            return [f"if type({value}) is date:",
                    f"    write_long(out, {value}.toordinal() - EPOCH_ORDINAL)",
                    f"elif type({value}) is int:", f"    write_long(out, {value})",
                    "else:", "    raise TypeError('date expected')"]
        if logical == "uuid" and kind == "string":
            text = self.fresh("text")
            return [f"{text} = str({value}) if type({value}) is UUID else {value}",
                    *_write_primitive("string", text)]
        if logical == "decimal" and kind == "bytes":
            raw = self.fresh("raw")
            return [f"{raw} = decimal_bytes({value}, {int(schema['precision'])}, "
                    f"{int(schema.get('scale', 0))})", *_write_primitive("bytes", raw)]
        if logical == "decimal" or logical in _UNSUPPORTED_LOGICAL:
            raise Unsupported(f"logical type {logical} on {kind}")
        return _write_primitive(kind, value)


def _read_primitive(kind: str, target: str) -> list[str]:
    if kind in ("int", "long"):
        return ["byte = data[pos]", "if byte < 128:",
                f"    {target} = (byte >> 1) ^ -(byte & 1)", "    pos += 1", "else:",
                f"    {target}, pos = read_long(data, pos)"]
    if kind in ("string", "bytes"):
        return [*_read_primitive("long", "length"), "end = pos + length",
                "if length < 0 or end > size:",
                f"    raise EOFError('{kind} past the end of the record')",
                f"{target} = data[pos:end]{'.decode()' if kind == 'string' else ''}",
                "pos = end"]
    if kind == "boolean":
        return [f"{target} = data[pos] != 0", "pos += 1"]
    if kind in ("float", "double"):
        width, struct_name = (4, "FLOAT") if kind == "float" else (8, "DOUBLE")
        return [f"{target} = {struct_name}.unpack_from(data, pos)[0]", f"pos += {width}"]
    return [f"{target} = None"]  # null


def _write_primitive(kind: str, value: str) -> list[str]:
    if kind in ("int", "long"):
        return [f"if type({value}) is not int:", "    raise TypeError('int expected')",
                f"if -64 <= {value} < 64:", f"    out.append(({value} << 1) ^ ({value} >> 63))",
                "else:", f"    write_long(out, {value})"]
    if kind == "string":  # AttributeError for a non-str: fastavro decides
        return ["encoded = " + value + ".encode()", "length = len(encoded)",
                "if length < 64:", "    out.append(length << 1)", "else:",
                "    write_long(out, length)", "out += encoded"]
    if kind == "bytes":
        return [f"if type({value}) is not bytes:", "    raise TypeError('bytes expected')",
                f"write_long(out, len({value}))", f"out += {value}"]
    if kind == "boolean":
        return [f"if {value} is True:", "    out.append(1)", f"elif {value} is False:",
                "    out.append(0)", "else:", "    raise TypeError('bool expected')"]
    if kind in ("float", "double"):
        struct_name = "FLOAT" if kind == "float" else "DOUBLE"
        return [f"if type({value}) is not float:", "    raise TypeError('float expected')",
                f"out += {struct_name}.pack({value})"]
    return [f"if {value} is not None:", "    raise TypeError('null expected')"]


def _optional(branches: list[Any]) -> tuple[int, int, Any]:
    """(null tag byte, other tag byte, other branch) of a union of null and one other type."""
    nulls = [index for index, branch in enumerate(branches) if branch == "null"]
    if len(branches) != 2 or len(nulls) != 1:
        raise Unsupported("only unions of null and one other type are compiled")
    return (0, 2, branches[1]) if nulls[0] == 0 else (2, 0, branches[0])


def _full_name(schema: dict[str, Any], namespace: str) -> str:
    name = str(schema["name"])
    if "." in name:
        return name
    space = schema.get("namespace", namespace)
    return f"{space}.{name}" if space else name


def _indent(lines: list[str], levels: int = 1) -> list[str]:
    return [" " * 4 * levels + line for line in lines]


def _function(signature: str, body: list[str]) -> str:
    return f"def {signature}:\n" + "\n".join(_indent(body)) + "\n"
