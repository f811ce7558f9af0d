"""Which topics become which tables, and an Avro writer schema as the table's Arrow columns.

Avro -> Arrow (-> Iceberg, which pyiceberg derives from Arrow): records are structs, arrays
lists, maps maps of strings, enums strings, ``decimal(p, s)`` decimals, ``timestamp-millis`` /
``-micros`` timestamps with zone (UTC), ``date`` dates, ``uuid`` strings, ``[null, T]`` an
optional T. Every column is optional (nullable) in the table, whatever the Avro type: a record
written with an older schema that lacks a field lands with null there, and Iceberg could never
make a required column optional again without rewriting.

After the record's own fields every table has the Kafka coordinates and the trace headers
(:data:`KAFKA_COLUMNS`); the key is what "latest state" views group by.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

import pyarrow as pa

from backbone.topics import CATALOG, Topic, ValueFormat, topic

KAFKA_COLUMNS: tuple[pa.Field, ...] = (
    pa.field("kafka_topic", pa.string()),
    pa.field("kafka_partition", pa.int32()),
    pa.field("kafka_offset", pa.int64()),
    pa.field("kafka_timestamp", pa.timestamp("us", tz="UTC")),
    pa.field("kafka_key", pa.string()),
    pa.field("correlation_id", pa.string()),  # the Kafka header (the value has `correlation`)
    pa.field("traceparent", pa.string()),
)
KAFKA_COLUMN_NAMES = frozenset(column.name for column in KAFKA_COLUMNS)

#: The column tables are partitioned by (day), when the record has it: every canonical event.
PARTITION_SOURCE = "occurred_at"

_PRIMITIVE_TYPES: dict[str, pa.DataType] = {
    "null": pa.null(), "boolean": pa.bool_(), "int": pa.int32(), "long": pa.int64(),
    "float": pa.float32(), "double": pa.float64(), "bytes": pa.binary(), "string": pa.string(),
}


class UnsupportedSchema(ValueError):
    """An Avro schema the sink cannot turn into columns; the message names the field."""


@dataclass(frozen=True)
class SinkTopic:
    """One topic the sink reads and the table it fills."""

    catalog: Topic  # the catalog entry: record, key
    name: str  # the topic read: the catalog's name, or <prefix>.<catalog name>
    table: str  # the table's name in the namespace

    @cached_property
    def source(self) -> Topic:
        """The catalog entry under the name actually read (its subject follows the name)."""
        return self.catalog if self.name == self.catalog.name else replace(self.catalog,
                                                                           name=self.name)


def table_name(catalog_name: str) -> str:
    """``<domain>.<entity>[.<variant>].v<major>`` -> the entity in snake case; inventory's
    entities carry the domain (``position`` alone says little): ``inventory_position``."""
    domain, entity = catalog_name.split(".")[:2]
    name = entity.replace("-", "_")
    return f"inventory_{name}" if domain == "inventory" else name


def default_topics() -> list[str]:
    """Every canonical topic: the four normalized streams and the raw canonical events."""
    return [entry.name for entry in CATALOG if entry.value_format is ValueFormat.AVRO]


def sink_topics(names: list[str], prefix: str | None = None) -> list[SinkTopic]:
    """The chosen catalog topics; ValueError naming a topic that is not a canonical one."""
    chosen = []
    for name in names:
        try:
            entry = topic(name)
        except KeyError as error:
            raise ValueError(str(error.args[0])) from None
        if entry.value_format is not ValueFormat.AVRO:
            raise ValueError(f"{name} carries {entry.value_format.value}, not canonical Avro "
                             "events; choose among: " + ", ".join(default_topics()))
        read = f"{prefix}.{name}" if prefix else name
        chosen.append(SinkTopic(entry, read, table_name(name)))
    return chosen


def arrow_schema(avro: Any) -> pa.Schema:
    """The table columns of an Avro record schema: its fields, then :data:`KAFKA_COLUMNS`."""
    if not isinstance(avro, dict) or avro.get("type") not in ("record", "error"):
        raise UnsupportedSchema("the writer schema is not an Avro record")
    struct = _arrow_type(avro, str(avro.get("namespace", "")), {}, str(avro.get("name")))
    fields = list(struct)
    clash = sorted(KAFKA_COLUMN_NAMES & {field.name for field in fields})
    if clash:
        raise UnsupportedSchema(f"{avro.get('name')}: field(s) {clash} clash with the Kafka "
                                "columns the sink adds")
    return pa.schema([*fields, *KAFKA_COLUMNS])


def decoding_schema(avro: Any) -> Any:
    """``avro`` with the ``uuid`` logical type dropped, so the decoder returns the plain
    strings the table stores instead of UUID objects (same bytes on the wire)."""
    copied = copy.deepcopy(avro)
    _drop_uuid(copied)
    return copied


def _drop_uuid(node: Any) -> None:
    if isinstance(node, list):
        for item in node:
            _drop_uuid(item)
    elif isinstance(node, dict):
        if node.get("logicalType") == "uuid":
            del node["logicalType"]
        for value in node.values():
            if isinstance(value, list | dict):
                _drop_uuid(value)


def _arrow_type(schema: Any, namespace: str, named: dict[str, pa.DataType],
                where: str) -> pa.DataType:
    if isinstance(schema, str):
        if schema in _PRIMITIVE_TYPES:
            return _PRIMITIVE_TYPES[schema]
        full = schema if "." in schema else f"{namespace}.{schema}".lstrip(".")
        for candidate in (full, schema):
            if candidate in named:
                return named[candidate]
        raise UnsupportedSchema(f"{where}: unknown type {schema!r}")
    if isinstance(schema, list):
        branches = [branch for branch in schema if branch != "null"]
        if len(branches) != 1:
            raise UnsupportedSchema(f"{where}: a union of {len(branches)} non-null types has no "
                                    "column type (only [null, T] is supported)")
        return _arrow_type(branches[0], namespace, named, where)
    if not isinstance(schema, dict):
        raise UnsupportedSchema(f"{where}: {schema!r} is not an Avro type")
    logical = _logical(schema)
    if logical is not None:
        return logical
    kind = schema.get("type")
    if kind in ("record", "error"):
        name = str(schema["name"])
        space = name.rpartition(".")[0] if "." in name else str(schema.get("namespace",
                                                                           namespace))
        fields = [pa.field(str(field["name"]),
                           _arrow_type(field["type"], space, named,
                                       f"{where}.{field['name']}"))
                  for field in schema.get("fields", [])]
        result = pa.struct(fields)
        _remember(named, name, space, result)
        return result
    if kind == "enum":
        _remember(named, str(schema["name"]), namespace, pa.string())
        return pa.string()
    if kind == "fixed":
        result = pa.binary(int(schema["size"]))
        _remember(named, str(schema["name"]), namespace, result)
        return result
    if kind == "array":
        return pa.list_(_arrow_type(schema["items"], namespace, named, f"{where}[]"))
    if kind == "map":
        return pa.map_(pa.string(),
                       _arrow_type(schema["values"], namespace, named, f"{where}{{}}"))
    return _arrow_type(kind, namespace, named, where)


def _logical(schema: dict[str, Any]) -> pa.DataType | None:
    logical, kind = schema.get("logicalType"), schema.get("type")
    if logical == "decimal" and kind in ("bytes", "fixed"):
        precision = int(schema["precision"])
        if precision > 38:  # Iceberg's (and Arrow's decimal128) limit
            raise UnsupportedSchema(f"decimal precision {precision} is over Iceberg's 38")
        return pa.decimal128(precision, int(schema.get("scale", 0)))
    if logical in ("timestamp-millis", "timestamp-micros") and kind == "long":
        return pa.timestamp("us", tz="UTC")
    if logical == "date" and kind == "int":
        return pa.date32()
    return None  # uuid and unknown logical types: the base type


def _remember(named: dict[str, pa.DataType], name: str, namespace: str,
              arrow: pa.DataType) -> None:
    named[name if "." in name else f"{namespace}.{name}".lstrip(".")] = arrow
    named.setdefault(name.rpartition(".")[2], arrow)
