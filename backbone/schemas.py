"""Loads the Avro contracts in schemas/: resolves named types across files, refuses recursion.

Every named type lives in ``schemas/<full name>.avsc``. :func:`load` inlines each referenced
type at its first use (later uses stay references by full name), which is the self-contained
form the schema registry and ``fastavro.parse_schema`` both accept. Docs, defaults and logical
types are kept: the registry needs defaults to judge compatibility and readers need the logical
types, both of which Avro's Parsing Canonical Form would drop.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import fastavro

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

_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
_NAMED = frozenset({"record", "error", "enum", "fixed"})


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
    schema = _Resolver(schema_dir).named(record_name, ())
    try:
        fastavro.parse_schema(schema)
        # fastavro accepts some defaults the registry refuses (e.g. 3 for ["null", "int"])
        _check_defaults(schema, {})
    except Exception as exc:  # fastavro raises several unrelated types for a bad schema
        raise ValueError(f"schema {record_name} in {schema_dir} is not valid Avro: {exc}") from exc
    return json.dumps(schema, separators=(",", ":"), ensure_ascii=False)


def _read(full_name: str, schema_dir: Path) -> dict[str, Any]:
    path = schema_dir / f"{full_name}.avsc"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(
            f"named type {full_name} is referenced but {path} does not exist; "
            "every named type needs its own file named <full name>.avsc"
        ) from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(raw, dict) or raw.get("type") not in _NAMED:
        raise ValueError(f"{path} must hold one named type (record, enum or fixed)")
    declared = _full_name(raw, "")
    if declared != full_name:
        raise ValueError(f"{path} declares {declared}; the file name must be the full name")
    return raw


def _full_name(schema: dict[str, Any], namespace: str) -> str:
    name = str(schema.get("name", ""))
    if "." in name:
        return name
    ns = schema.get("namespace", namespace) or ""
    return f"{ns}.{name}" if ns else name


class _Resolver:
    """Inlines referenced files once per resolution; tracks the chain to catch recursion."""

    def __init__(self, schema_dir: Path) -> None:
        self._dir = schema_dir
        self._defined: set[str] = set()

    def named(self, full_name: str, chain: tuple[str, ...]) -> Any:
        return self._schema(_read(full_name, self._dir), "", chain)

    def _schema(self, schema: Any, namespace: str, chain: tuple[str, ...]) -> Any:
        if isinstance(schema, list):
            return [self._schema(branch, namespace, chain) for branch in schema]
        if isinstance(schema, str):
            return self._reference(schema, namespace, chain)
        kind = schema.get("type")
        if kind in _NAMED:
            return self._definition(schema, namespace, chain)
        out = dict(schema)
        if kind == "array":
            out["items"] = self._schema(schema["items"], namespace, chain)
        elif kind == "map":
            out["values"] = self._schema(schema["values"], namespace, chain)
        return out

    def _reference(self, name: str, namespace: str, chain: tuple[str, ...]) -> Any:
        if name in _PRIMITIVES:
            return name
        full = name if "." in name or not namespace else f"{namespace}.{name}"
        if full in chain:
            cycle = " -> ".join((*chain[chain.index(full) :], full))
            raise ValueError(
                f"schema type {full} is recursive ({cycle}); recursive types are refused "
                "because deeply nested data can exhaust the decoder's stack"
            )
        if full in self._defined:
            return full
        return self.named(full, chain)

    def _definition(self, schema: dict[str, Any], namespace: str, chain: tuple[str, ...]) -> Any:
        full = _full_name(schema, namespace)
        if full in chain:
            raise ValueError(f"schema type {full} is recursive (defined inside itself)")
        if full in self._defined:
            raise ValueError(f"schema type {full} is defined twice; reference it by name")
        self._defined.add(full)
        out = {k: v for k, v in schema.items() if k != "namespace"}
        out["name"] = full
        if schema["type"] in ("record", "error"):
            inner_ns = full.rpartition(".")[0]
            out["fields"] = [
                {**field, "type": self._schema(field["type"], inner_ns, (*chain, full))}
                for field in schema["fields"]
            ]
        return out


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
    if schema.get("type") in _NAMED:
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
