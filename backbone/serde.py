"""Canonical events to and from Confluent-framed Avro, with guarded decoding.

Wire format: magic byte 0, 4-byte big-endian schema id, Avro binary (TopicNameStrategy subject
``<topic>-value``). Schemas are compiled once per schema id into a :class:`Codec`
(backbone/avro_codec.py: the same bytes as fastavro, ~5x faster to write and ~1.6x to read;
the generic serializer wrappers re-walk the schema on every message, reference/perf.md).
Reading with another writer schema than the topic's current one (schema evolution) goes
through fastavro's schema resolution.

Decoding never crashes on bad bytes: a record over the size limit, a wrong magic byte, a schema
id not registered under the topic's subject, a writer schema that could make decoding recurse
or loop without end (recursive, nested deeper than MAX_SCHEMA_DEPTH, an array of items that
take no bytes), undecodable or trailing Avro bytes, a decimal far longer than its precision
all raise :class:`DecodeError` (category DESERIALIZATION); valid Avro whose values break the
model raises :class:`SchemaValidationError`. tests/unit/fuzz/ holds the properties.
"""

from __future__ import annotations

import io
import json
import logging
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import fastavro
from pydantic import ValidationError

from backbone import schemas
from backbone.avro_codec import Codec, Unsupported
from backbone.errors import DecodeError, EventTooLargeError, SchemaValidationError
from backbone.events import Event, model_for
from backbone.registry import SchemaRegistry
from backbone.topics import Topic, ValueFormat

log = logging.getLogger(__name__)
MAGIC = 0
_HEADER = struct.Struct(">bI")


@dataclass(frozen=True)
class _Writer:
    schema_id: int
    parsed: Any
    codec: Codec | None  # None: a schema the compiled codec does not cover (fastavro then)


def _codec(schema: Any, parsed: Any) -> Codec | None:
    try:
        return Codec(schema, parsed)
    except Unsupported:
        return None


class AvroSerde:
    """Encodes and decodes the canonical events of catalog topics against one registry."""

    def __init__(
        self,
        registry: SchemaRegistry,
        *,
        max_message_bytes: int = 1_000_000,
        auto_register: bool = True,
    ) -> None:
        self.registry = registry
        self.max_message_bytes = max_message_bytes
        self.auto_register = auto_register
        self._writers: dict[str, _Writer] = {}
        # keyed by subject too: an id accepted for one topic says nothing about another topic
        self._readers: dict[tuple[str, int], tuple[Any, Codec | None]] = {}

    # -- encoding ---------------------------------------------------------------------------

    def serialize(self, topic: Topic, event: Event) -> bytes:
        """Confluent-framed Avro of ``event`` for ``topic``; refuses what the topic cannot take."""
        writer = self._writer(topic)
        if writer.codec is not None:
            data = bytes(writer.codec.encode_object(
                event, bytearray(_HEADER.pack(MAGIC, writer.schema_id)), event.to_avro))
        else:
            buffer = io.BytesIO()
            buffer.write(_HEADER.pack(MAGIC, writer.schema_id))
            fastavro.schemaless_writer(buffer, writer.parsed, event.to_avro())
            data = buffer.getvalue()
        limit = min(topic.max_message_bytes, self.max_message_bytes)
        if len(data) > limit:
            raise EventTooLargeError(
                f"{event.event_type_name()} {event.event_id} encodes to {len(data)} bytes, over "
                f"the {limit}-byte limit of {topic.name}; split the document (fewer lines per "
                "event) or raise the topic's max.message.bytes in the catalog"
            )
        return data

    def encoder(self, topic: Topic) -> Callable[[Event], bytes]:
        """A plain callable ``event -> bytes`` for one topic (registers the schema up front)."""
        self._writer(topic)
        return lambda event: self.serialize(topic, event)

    def prepare(self, topic: Topic) -> None:
        """Look up the topic's schema and compile its codec now, not on the first record (a
        processor's first event would otherwise wait for the registry and the compiler).

        Best effort: a registry that does not answer yet is asked again by the first record,
        which then fails (and is retried) like any record would."""
        if topic.value_format is not ValueFormat.AVRO or topic.record is None:
            return
        try:
            writer = self._writer(topic)
            self._writer_schema(topic, writer.schema_id)
        except Exception as error:  # logged; the first record asks again
            log.warning("could not prepare %s now (%s); the first record will", topic.name,
                        error)

    def schema_id(self, topic: Topic) -> int:
        return self._writer(topic).schema_id

    def _writer(self, topic: Topic) -> _Writer:
        cached = self._writers.get(topic.name)
        if cached is not None:
            return cached
        if topic.value_format is not ValueFormat.AVRO or topic.record is None:
            raise ValueError(f"{topic.name} does not carry Avro events")
        text = schemas.schema_text(topic.record)
        schema_id = self.registry.lookup(topic.value_subject, text)
        if schema_id is None:
            if not self.auto_register:
                raise DecodeError(
                    f"{topic.record} is not registered under {topic.value_subject}; run "
                    "`backbone schemas register` first"
                )
            schema_id = self.registry.register(topic.value_subject, text)
        parsed = schemas.parsed(topic.record)
        writer = _Writer(schema_id, parsed, _codec(schemas.load(topic.record), parsed))
        self._writers[topic.name] = writer
        return writer

    # -- decoding ---------------------------------------------------------------------------

    def deserialize(self, topic: Topic, data: bytes | None) -> Event:
        """The event in ``data``; DecodeError or SchemaValidationError, never anything else."""
        record = self.deserialize_dict(topic, data)
        try:
            return model_for(topic.record or "").from_avro(record)
        except ValidationError as error:
            raise SchemaValidationError(
                f"{topic.name}: the record decodes but breaks the canonical model: "
                f"{_first_errors(error)}"
            ) from error

    def deserialize_dict(self, topic: Topic, data: bytes | None) -> dict[str, Any]:
        """The decoded Avro record as a dict (guarded exactly like :meth:`deserialize`)."""
        schema_id = self._check_frame(topic, data)
        assert data is not None  # _check_frame refused None
        writer, codec = self._writer_schema(topic, schema_id)
        reader = self._writer(topic)
        try:
            if schema_id == reader.schema_id and codec is not None:
                record, end = codec.decode(data, _HEADER.size)
            else:
                if codec is not None:
                    # the compiled read refuses what would keep fastavro busy for minutes
                    # (avro_codec.Refused); only records of older schema versions pay for it
                    codec.decode(data, _HEADER.size)
                buffer = io.BytesIO(data)
                buffer.seek(_HEADER.size)
                record = fastavro.schemaless_reader(
                    buffer, writer, None if schema_id == reader.schema_id else reader.parsed)
                end = buffer.tell()
        except Exception as error:  # fastavro raises many kinds on bad bytes
            raise DecodeError(
                f"{topic.name}: {len(data)}-byte record with schema id {schema_id} is not "
                f"valid Avro: {type(error).__name__}: {error}"
            ) from error
        if end != len(data):
            raise DecodeError(
                f"{topic.name}: {len(data) - end} trailing bytes after the Avro "
                f"record (schema id {schema_id}); the producer framed it wrongly"
            )
        if not isinstance(record, dict):
            raise DecodeError(f"{topic.name}: schema id {schema_id} does not describe a record")
        return record

    def writer_schema_id(self, topic: Topic, data: bytes | None) -> int:
        """The id of the schema ``data`` was written with, after the guards of
        :meth:`deserialize` (size, framing, an id registered under the topic's subject).

        For readers that keep the writer's own shape instead of resolving to the topic's
        current schema (the Iceberg sink turns a new writer field into a new column); they
        get the schema with ``registry.schema(id)``."""
        schema_id = self._check_frame(topic, data)
        self._writer_schema(topic, schema_id)
        return schema_id

    def _check_frame(self, topic: Topic, data: bytes | None) -> int:
        if data is None:
            raise DecodeError(f"{topic.name}: the record has no value (a tombstone?)")
        if len(data) > self.max_message_bytes:
            raise DecodeError(
                f"{topic.name}: record of {len(data)} bytes is over the decode limit of "
                f"{self.max_message_bytes} (BACKBONE_MAX_MESSAGE_BYTES)"
            )
        if len(data) < _HEADER.size:
            raise DecodeError(
                f"{topic.name}: record of {len(data)} bytes is too short for Confluent framing "
                "(magic byte + 4-byte schema id)"
            )
        magic, schema_id = _HEADER.unpack_from(data)
        if magic != MAGIC:
            raise DecodeError(
                f"{topic.name}: first byte is 0x{data[0]:02x}, not the Confluent magic byte 0x00: "
                "not schema-registry Avro (JSON? another serializer?)"
            )
        return int(schema_id)

    def _writer_schema(self, topic: Topic, schema_id: int) -> tuple[Any, Codec | None]:
        cached = self._readers.get((topic.value_subject, schema_id))
        if cached is not None:
            return cached
        allowed = self.registry.subject_ids(topic.value_subject)
        if schema_id not in allowed:
            allowed = self.registry.subject_ids(topic.value_subject, refresh=True)
        if schema_id not in allowed:
            raise DecodeError(
                f"{topic.name}: schema id {schema_id} is not registered under "
                f"{topic.value_subject} (known ids: {sorted(allowed) or 'none'}); the record was "
                "written for another topic or registry"
            )
        text = self.registry.schema(schema_id)
        try:
            writer_schema = json.loads(text)
            refuse_recursion(writer_schema)
            refuse_empty_items(writer_schema)
            parsed = fastavro.parse_schema(writer_schema)
        except RecursionError:  # json.loads of a schema nested deeper than Python's stack
            raise DecodeError(f"{topic.name}: writer schema id {schema_id} is refused: nested "
                              f"deeper than {MAX_SCHEMA_DEPTH} levels") from None
        except Exception as error:  # fastavro's SchemaParseException is no ValueError
            kind = "" if type(error) is ValueError else f"{type(error).__name__}: "
            raise DecodeError(
                f"{topic.name}: writer schema id {schema_id} is refused: {kind}{error}"
            ) from error
        cached = (parsed, _codec(writer_schema, parsed))
        self._readers[(topic.value_subject, schema_id)] = cached
        return cached


_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
# Far deeper than any canonical schema (5 levels), far below Python's stack: fastavro and the
# compiled codec recurse once per level
MAX_SCHEMA_DEPTH = 64


def refuse_recursion(schema: Any) -> None:
    """ValueError when a named type refers to itself, directly or through others, or the
    schema nests deeper than MAX_SCHEMA_DEPTH.

    fastavro recurses once per nesting level of the data, so a recursive writer schema lets a
    crafted record of a few kilobytes crash the decoder (reference/reliability.md 3.1).
    """
    _walk(schema, "", [], 0)


def _walk(schema: Any, namespace: str, open_types: list[str], depth: int) -> None:
    if depth > MAX_SCHEMA_DEPTH:
        raise ValueError(f"the schema nests deeper than {MAX_SCHEMA_DEPTH} levels")
    depth += 1
    if isinstance(schema, list):
        for branch in schema:
            _walk(branch, namespace, open_types, depth)
        return
    if isinstance(schema, str):
        if schema in _PRIMITIVES:
            return
        full = schema if "." in schema else f"{namespace}.{schema}".lstrip(".")
        if full in open_types or schema in open_types:
            raise ValueError(f"type {full} is recursive ({' -> '.join([*open_types, full])})")
        return
    if not isinstance(schema, dict):
        return
    kind = schema.get("type")
    if kind in ("record", "error", "enum", "fixed"):
        name = str(schema.get("name", ""))
        namespace = str(schema.get("namespace", namespace)) if "." not in name else \
            name.rpartition(".")[0]
        full = name if "." in name else f"{namespace}.{name}".lstrip(".")
        if kind in ("record", "error"):
            open_types.append(full)
            for field in schema.get("fields", []):
                _walk(field.get("type"), namespace, open_types, depth)
            open_types.pop()
        return
    if kind == "array":
        _walk(schema.get("items"), namespace, open_types, depth)
    elif kind == "map":
        _walk(schema.get("values"), namespace, open_types, depth)
    else:
        _walk(kind, namespace, open_types, depth)


def refuse_empty_items(schema: Any) -> None:
    """ValueError when an array's items can take no bytes (null, an empty record, ...).

    A block count is a varint: two bytes of it say 8,000 such items and ten say 2^63, so a
    crafted record of a dozen bytes would keep a reader busy (and growing a list) for
    hours. Every other item takes a byte at least, and the record's size bounds the count.
    Call after refuse_recursion (this walk assumes a finite schema).
    """
    named: dict[str, Any] = {}
    _check_items(schema, "", named)


def _check_items(schema: Any, namespace: str, named: dict[str, Any]) -> None:
    if isinstance(schema, list):
        for branch in schema:
            _check_items(branch, namespace, named)
        return
    if not isinstance(schema, dict):
        return
    kind = schema.get("type")
    if kind in ("record", "error", "enum", "fixed"):
        name = str(schema.get("name", ""))
        namespace = name.rpartition(".")[0] if "." in name else \
            str(schema.get("namespace", namespace))
        named[name if "." in name else f"{namespace}.{name}".lstrip(".")] = schema
        named.setdefault(name, schema)
        for field in schema.get("fields", []) if kind != "fixed" else []:
            _check_items(field.get("type"), namespace, named)
        return
    if kind == "array":
        if _takes_no_bytes(schema.get("items"), namespace, named):
            raise ValueError("an array's items take no bytes: a few bytes of block count "
                             "would decode to billions of items")
        _check_items(schema.get("items"), namespace, named)
    elif kind == "map":
        _check_items(schema.get("values"), namespace, named)
    else:
        _check_items(kind, namespace, named)


def _takes_no_bytes(schema: Any, namespace: str, named: dict[str, Any]) -> bool:
    if isinstance(schema, str):
        if schema in _PRIMITIVES:
            return schema == "null"
        found = named.get(schema) or named.get(f"{namespace}.{schema}")
        return found is not None and _takes_no_bytes(found, namespace, named)
    if not isinstance(schema, dict):
        return False  # a union: its branch index takes a byte
    kind = schema.get("type")
    if kind in ("record", "error"):
        return all(_takes_no_bytes(field.get("type"), namespace, named)
                   for field in schema.get("fields", []))
    if kind == "fixed":
        return schema.get("size") == 0
    if kind in ("array", "map", "enum"):
        return False  # a block count or an index: a byte at least
    return _takes_no_bytes(kind, namespace, named)


def _first_errors(error: ValidationError, limit: int = 3) -> str:
    parts = []
    for detail in error.errors()[:limit]:
        where = ".".join(str(part) for part in detail["loc"])
        parts.append(f"{where}: {detail['msg']} (got {detail.get('input')!r:.60})")
    more = len(error.errors()) - limit
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")
