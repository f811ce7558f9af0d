"""Loads the Avro contracts in schemas/: resolves named types across files, refuses recursion.

Every named type lives in ``schemas/<full name>.avsc``. :func:`load` inlines each referenced
type at its first use (later uses stay references by full name), which is the self-contained
form the schema registry and ``fastavro.parse_schema`` both accept; the rules are
backbone/avro_names.py's, shared with the offline gate (backbone/schema_gate.py). Docs,
defaults and logical types are kept: the registry needs defaults to judge compatibility and
readers need the logical types, both of which Avro's Parsing Canonical Form would drop.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import fastavro

from backbone.avro_names import NAMED, NameResolver

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"

# Fields every canonical event starts with, in this order (CANONICAL_MODEL.md, Envelope).
ENVELOPE_FIELDS = (
    "event_id",
    "event_type",
    "occurred_at",
    "occurred_at_offset_minutes",
    "recorded_at",
    "source",
    "correlation",
    "idempotency_key",
    "warnings",
)



def load(record_name: str, schema_dir: Path = SCHEMA_DIR) -> dict[str, Any]:
    """The self-contained schema of ``record_name`` (full name), as a fresh dict.

    Raises ValueError for a missing file, a malformed schema, or a recursive type.
    """
    return json.loads(_resolved_text(record_name, schema_dir))  # type: ignore[no-any-return]


def schema_text(record_name: str, schema_dir: Path = SCHEMA_DIR) -> str:
    """Compact JSON of the self-contained schema: what ``backbone schemas register`` sends."""
    return _resolved_text(record_name, schema_dir)


@lru_cache(maxsize=256)
def parsed(record_name: str, schema_dir: Path = SCHEMA_DIR) -> Any:
    """The schema parsed by fastavro, for ``schemaless_writer`` / ``schemaless_reader``.

    Shared between callers: treat it as read-only.
    """
    return fastavro.parse_schema(load(record_name, schema_dir))


def event_records(schema_dir: Path = SCHEMA_DIR) -> list[str]:
    """Full names of the top-level events: the records that start with the envelope."""
    return list(_event_records(schema_dir))


@lru_cache(maxsize=16)
def _event_records(schema_dir: Path) -> tuple[str, ...]:
    names = []
    for path in sorted(schema_dir.glob("*.avsc")):
        raw = _read(path.stem, schema_dir)
        fields = raw.get("fields") if raw.get("type") == "record" else None
        if fields and tuple(f.get("name") for f in fields[: len(ENVELOPE_FIELDS)]) == (
            ENVELOPE_FIELDS
        ):
            names.append(path.stem)
    return tuple(names)


@lru_cache(maxsize=256)
def _resolved_text(record_name: str, schema_dir: Path) -> str:
    schema = NameResolver(lambda name: _read(name, schema_dir), str(schema_dir)).named(
        record_name)
    try:
        fastavro.parse_schema(schema)
        # fastavro accepts some defaults the registry refuses (e.g. 3 for ["null", "int"])
        _check_defaults(schema, {})
    except Exception as exc:  # fastavro raises several unrelated types for a bad schema
        raise ValueError(f"schema {record_name} in {schema_dir} is not valid Avro: {exc}") from exc
    return json.dumps(schema, separators=(",", ":"), ensure_ascii=False)


def _read(full_name: str, schema_dir: Path) -> Any:
    """The parsed file of ``full_name`` (None when there is none)."""
    path = schema_dir / f"{full_name}.avsc"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from exc


_JSON_DEFAULT_TYPES: dict[str, tuple[type, ...]] = {
    "null": (type(None),),
    "boolean": (bool,),
    "int": (int,),
    "long": (int,),
    "float": (int, float),
    "double": (int, float),
    "string": (str,),
    "bytes": (str,),
    "fixed": (str,),
    "enum": (str,),
    "array": (list,),
    "map": (dict,),
    "record": (dict,),
    "error": (dict,),
}


def _check_defaults(schema: Any, named: dict[str, Any]) -> None:
    """Each field default must fit the field type (a union's default fits its first branch)."""
    if isinstance(schema, list):
        for branch in schema:
            _check_defaults(branch, named)
        return
    if not isinstance(schema, dict):
        return
    if schema.get("type") in NAMED:
        named[schema["name"]] = schema
    for field in schema.get("fields", []):
        _check_defaults(field["type"], named)
        if "default" in field:
            _check_default(field["default"], field["type"], named, field["name"])
    for key in ("items", "values"):
        if key in schema:
            _check_defaults(schema[key], named)


def _check_default(value: Any, schema: Any, named: dict[str, Any], where: str) -> None:
    if isinstance(schema, list):
        _check_default(value, schema[0], named, where)
        return
    if isinstance(schema, str):
        schema = named.get(schema, {"type": schema})
    kind = schema["type"]
    allowed = _JSON_DEFAULT_TYPES.get(kind, ())
    if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
        raise ValueError(f"default {value!r} of field {where} does not fit type {kind}")
    if kind == "enum" and value not in schema["symbols"]:
        raise ValueError(f"default {value!r} of field {where} is not a symbol of {schema['name']}")
    if kind == "array" and isinstance(value, list):
        for item in value:
            _check_default(item, schema["items"], named, where)
    elif kind == "map" and isinstance(value, dict):
        for item in value.values():
            _check_default(item, schema["values"], named, where)
