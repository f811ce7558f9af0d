"""Contract: the Avro schemas in schemas/ and the pydantic models in backbone.events agree.

Field names, types (with decimal precision/scale and logical types), optionality, enum symbols
and defaults are compared for every event, recursively through nested records.
"""

from __future__ import annotations

import enum
import json
import types
import typing
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, ClassVar

import fastavro
import pytest
from fastavro.schema import load_schema, to_parsing_canonical_form

from backbone import schemas
from backbone.events import (
    EVENT_MODELS,
    CanonicalRecord,
    DecimalSpec,
    MoneyDecimal,
    QuantityDecimal,
    TimestampMillis,
    UuidString,
    model_for,
)

EVENTS = schemas.event_records()
ENVELOPE_TYPES = [
    ("event_id", {"type": "string", "logicalType": "uuid"}),
    ("event_type", "string"),
    ("occurred_at", {"type": "long", "logicalType": "timestamp-millis"}),
    ("occurred_at_offset_minutes", ["null", "int"]),
    ("recorded_at", {"type": "long", "logicalType": "timestamp-millis"}),
    ("source", "backbone.common.Source"),
    ("correlation", "backbone.common.Correlation"),
    ("idempotency_key", "string"),
    ("warnings", {"type": "array", "items": "string"}),
]
# event_type has no Avro default but the model fills it from the class (it names the record).
DERIVED_FIELDS = {"event_type"}
_NO_DEFAULT = object()


# ---------------------------------------------------------------- the comparator


def _named_definitions(schema: Any, found: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    if isinstance(schema, list):
        for branch in schema:
            _named_definitions(branch, found)
    elif isinstance(schema, dict):
        if schema.get("type") in ("record", "enum", "fixed"):
            found[schema["name"]] = schema
        for field in schema.get("fields", []):
            _named_definitions(field["type"], found)
        for key in ("items", "values"):
            if key in schema:
                _named_definitions(schema[key], found)
    return found


class _Comparison:
    """Walks an expanded Avro record and a model side by side, collecting every mismatch."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.named = _named_definitions(schema, {})
        self.problems: list[str] = []
        self._seen: set[str] = set()

    def record(self, avro: dict[str, Any], model: type[CanonicalRecord], path: str) -> None:
        if avro["name"] in self._seen:
            return
        self._seen.add(avro["name"])
        if avro["name"] != model.RECORD_NAME:
            self.problems.append(
                f"{path}: model {model.__name__} has RECORD_NAME "
                f"{model.RECORD_NAME!r}, schema record is {avro['name']!r}"
            )
        avro_fields = {f["name"]: f for f in avro["fields"]}
        hints = typing.get_type_hints(model, include_extras=True)
        for name in sorted(set(avro_fields) - set(model.model_fields)):
            self.problems.append(f"{path}.{name}: in the schema, missing from {model.__name__}")
        for name in sorted(set(model.model_fields) - set(avro_fields)):
            self.problems.append(f"{path}.{name}: in {model.__name__}, missing from the schema")
        for name in avro_fields.keys() & model.model_fields.keys():
            field_path = f"{path}.{name}"
            self.type(avro_fields[name]["type"], hints[name], field_path)
            self.default(avro_fields[name], model, name, field_path)

    def default(
        self, avro_field: dict[str, Any], model: type[CanonicalRecord], name: str, path: str
    ) -> None:
        info = model.model_fields[name]
        if name in DERIVED_FIELDS:
            return
        avro_default = avro_field.get("default", _NO_DEFAULT)
        if info.is_required():
            model_default: Any = _NO_DEFAULT
        elif info.default_factory is not None:
            model_default = info.default_factory()  # type: ignore[call-arg]
        else:
            model_default = info.default
        if avro_default is _NO_DEFAULT or model_default is _NO_DEFAULT:
            if (avro_default is _NO_DEFAULT) != (model_default is _NO_DEFAULT):
                self.problems.append(
                    f"{path}: schema default {_show(avro_default)}, "
                    f"model default {_show(model_default)}"
                )
            return
        if isinstance(model_default, tuple):
            model_default = list(model_default)
        if isinstance(model_default, enum.Enum):
            model_default = model_default.value
        if type(avro_default) is not type(model_default) or avro_default != model_default:
            self.problems.append(
                f"{path}: schema default {avro_default!r}, model default {model_default!r}"
            )

    def type(self, avro: Any, annotation: Any, path: str) -> None:
        base, meta = _split_annotated(annotation)
        if isinstance(avro, list):
            self._union(avro, base, path)
            return
        if _is_optional(base):
            self.problems.append(f"{path}: model is Optional, schema type {avro!r} is not nullable")
            return
        if isinstance(avro, str) and avro in self.named:
            avro = self.named[avro]
        if isinstance(avro, str):
            avro = {"type": avro}
        logical = avro.get("logicalType")
        kind = avro["type"]
        if logical == "decimal":
            spec = next((m for m in meta if isinstance(m, DecimalSpec)), None)
            wanted = (avro["precision"], avro["scale"])
            if base is not Decimal or spec is None or (spec.precision, spec.scale) != wanted:
                self.problems.append(f"{path}: schema decimal{wanted}, model {annotation!r}")
        elif logical == "timestamp-millis":
            if base is not datetime or not any(isinstance(m, TimestampMillis) for m in meta):
                self.problems.append(f"{path}: schema timestamp-millis, model {annotation!r}")
        elif logical == "date":
            if base is not date:
                self.problems.append(f"{path}: schema date, model {annotation!r}")
        elif logical == "uuid":
            if base is not str or not any(isinstance(m, UuidString) for m in meta):
                self.problems.append(f"{path}: schema uuid string, model {annotation!r}")
        elif logical is not None:
            self.problems.append(f"{path}: logical type {logical} has no model mapping")
        elif kind in ("string", "int", "long", "boolean"):
            expected = {"string": str, "int": int, "long": int, "boolean": bool}[kind]
            if base is not expected or any(isinstance(m, UuidString) for m in meta):
                self.problems.append(f"{path}: schema {kind}, model {annotation!r}")
        elif kind == "array":
            args = typing.get_args(base)
            if typing.get_origin(base) not in (tuple, list) or (
                typing.get_origin(base) is tuple and (len(args) != 2 or args[1] is not Ellipsis)
            ):
                self.problems.append(f"{path}: schema array, model {annotation!r}")
            else:
                self.type(avro["items"], args[0], f"{path}[]")
        elif kind == "map":
            args = typing.get_args(base)
            if typing.get_origin(base) is not dict or args[0] is not str:
                self.problems.append(f"{path}: schema map, model {annotation!r}")
            else:
                self.type(avro["values"], args[1], f"{path}{{}}")
        elif kind == "enum":
            self._enum(avro, base, path)
        elif kind == "record":
            if not (isinstance(base, type) and issubclass(base, CanonicalRecord)):
                self.problems.append(f"{path}: schema record {avro['name']}, model {annotation!r}")
            else:
                self.record(avro, base, path)
        else:
            self.problems.append(f"{path}: Avro type {kind} has no model mapping")

    def _union(self, avro: list[Any], base: Any, path: str) -> None:
        if len(avro) != 2 or avro[0] != "null":
            self.problems.append(f'{path}: unions must be ["null", T], got {avro!r}')
            return
        if not _is_optional(base):
            self.problems.append(f"{path}: schema is nullable, model {base!r} is not Optional")
            return
        inner = [arg for arg in typing.get_args(base) if arg is not type(None)]
        self.type(avro[1], inner[0], path)

    def _enum(self, avro: dict[str, Any], base: Any, path: str) -> None:
        if not (isinstance(base, type) and issubclass(base, enum.StrEnum)):
            self.problems.append(f"{path}: schema enum {avro['name']}, model {base!r}")
            return
        if base.__name__ != avro["name"].rpartition(".")[2]:
            self.problems.append(f"{path}: enum {avro['name']} modelled as {base.__name__}")
        symbols = [member.value for member in base]
        if symbols != avro["symbols"]:
            self.problems.append(
                f"{path}: enum {avro['name']} symbols {avro['symbols']}, model {symbols}"
            )


def _split_annotated(annotation: Any) -> tuple[Any, tuple[Any, ...]]:
    if typing.get_origin(annotation) is Annotated:
        base, *meta = typing.get_args(annotation)
        return base, tuple(meta)
    return annotation, ()


def _is_optional(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(
        None
    ) in typing.get_args(annotation)


def _show(value: Any) -> str:
    return "(none)" if value is _NO_DEFAULT else repr(value)


def _mismatches(record_name: str) -> list[str]:
    schema = schemas.load(record_name)
    comparison = _Comparison(schema)
    comparison.record(schema, model_for(record_name), record_name)
    return comparison.problems


# ---------------------------------------------------------------- schemas <-> models


def test_the_twelve_events_have_schemas_and_models() -> None:
    expected = {
        "backbone.procurement.PurchaseOrderChanged",
        "backbone.procurement.SupplierAcknowledgement",
        "backbone.procurement.AdvanceShipNotice",
        "backbone.procurement.OrderLineStatus",
        "backbone.inventory.GoodsReceipt",
        "backbone.inventory.InventoryMovement",
        "backbone.inventory.InventorySnapshot",
        "backbone.inventory.InventoryPosition",
        "backbone.inventory.InventoryDiscrepancy",
        "backbone.logistics.ShipmentMilestone",
        "backbone.logistics.ShipmentStatus",
        "backbone.finance.Invoice",
    }
    assert set(EVENTS) == expected
    assert {model.record_name() for model in EVENT_MODELS.values()} == expected


@pytest.mark.parametrize("record_name", EVENTS)
def test_model_matches_schema(record_name: str) -> None:
    problems = _mismatches(record_name)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("record_name", EVENTS)
def test_envelope_comes_first_in_order(record_name: str) -> None:
    raw = json.loads((schemas.SCHEMA_DIR / f"{record_name}.avsc").read_text())
    head = [(f["name"], f["type"]) for f in raw["fields"][: len(ENVELOPE_TYPES)]]
    assert head == ENVELOPE_TYPES
    warnings = raw["fields"][8]
    assert warnings["default"] == []


KEY_FIELDS = {
    "procurement": ("buyer", "po_number"),
    "finance": ("buyer", "po_number"),
    "inventory": ("sku", "location"),
    "logistics": ("carrier", "tracking_number"),
}


@pytest.mark.parametrize("record_name", EVENTS)
def test_key_fields_are_required_top_level_strings(record_name: str) -> None:
    raw = json.loads((schemas.SCHEMA_DIR / f"{record_name}.avsc").read_text())
    fields = {f["name"]: f for f in raw["fields"]}
    for key_field in KEY_FIELDS[record_name.split(".")[1]]:
        assert fields[key_field]["type"] == "string", f"{record_name}.{key_field}"
        assert "default" not in fields[key_field], f"{record_name}.{key_field}"


@pytest.mark.parametrize("record_name", EVENTS)
def test_fastavro_loads_the_file_and_agrees_with_our_loader(record_name: str) -> None:
    by_fastavro = load_schema(str(schemas.SCHEMA_DIR / f"{record_name}.avsc"))
    ours = fastavro.parse_schema(schemas.load(record_name))
    assert to_parsing_canonical_form(by_fastavro) == to_parsing_canonical_form(ours)


# ---------------------------------------------------------------- schema hygiene

SCHEMA_FILES = sorted(schemas.SCHEMA_DIR.glob("*.avsc"))


@pytest.mark.parametrize("path", SCHEMA_FILES, ids=lambda p: p.stem)
def test_every_file_is_one_named_type_documented_everywhere(path: Path) -> None:
    raw = json.loads(path.read_text())
    assert f"{raw['namespace']}.{raw['name']}" == path.stem
    assert raw["namespace"] in {
        "backbone.common",
        "backbone.procurement",
        "backbone.inventory",
        "backbone.logistics",
        "backbone.finance",
    }
    assert raw.get("doc"), f"{path.stem} has no doc"
    if raw["type"] == "enum":
        assert "UNKNOWN" in raw["symbols"], f"{path.stem} has no UNKNOWN symbol"
        assert raw.get("default") == "UNKNOWN", f"{path.stem} enum default is not UNKNOWN"
    else:
        assert raw["type"] == "record"
        undocumented = [f["name"] for f in raw["fields"] if not f.get("doc")]
        assert not undocumented, f"{path.stem}: fields without doc: {undocumented}"
        _assert_no_inline_named_types(raw["fields"], path.stem)
        _assert_nullable_fields_default_to_null(raw["fields"], path.stem)


def _assert_no_inline_named_types(fields: list[dict[str, Any]], where: str) -> None:
    # one file per named type: an inline definition could be defined twice by two files
    definitions = _named_definitions([f["type"] for f in fields], {})
    assert not definitions, f"{where} defines {sorted(definitions)} inline; give each its own file"


def _assert_nullable_fields_default_to_null(fields: list[dict[str, Any]], where: str) -> None:
    for field in fields:
        if isinstance(field["type"], list):
            assert field["type"][0] == "null" and field.get("default", _NO_DEFAULT) is None, (
                f'{where}.{field["name"]}: optional fields are ["null", T] with default null'
            )


@pytest.mark.parametrize("record_name", EVENTS)
def test_every_decimal_is_a_quantity_or_money(record_name: str) -> None:
    found: list[tuple[int, int]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("logicalType") == "decimal":
                found.append((node["precision"], node["scale"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schemas.load(record_name))
    assert set(found) <= {(18, 6), (18, 4)}


# ---------------------------------------------------------------- the comparator can fail

_PROBE_SCHEMA = {
    "type": "record",
    "name": "probe.Probe",
    "doc": "probe",
    "fields": [
        {
            "name": "qty",
            "type": {"type": "bytes", "logicalType": "decimal", "precision": 18, "scale": 6},
            "doc": "d",
        },
        {"name": "note", "type": ["null", "string"], "default": None, "doc": "d"},
        {
            "name": "state",
            "type": {
                "type": "enum",
                "name": "probe.State",
                "doc": "d",
                "symbols": ["OPEN", "UNKNOWN"],
                "default": "UNKNOWN",
            },
            "doc": "d",
        },
        {"name": "only_in_schema", "type": "string", "doc": "d"},
    ],
}


class State(enum.StrEnum):
    OPEN = "OPEN"
    CLOSED = "CLOSED"
    UNKNOWN = "UNKNOWN"


class Probe(CanonicalRecord):
    RECORD_NAME: ClassVar[str] = "probe.Probe"

    qty: MoneyDecimal  # wrong scale
    note: str  # not Optional
    state: State  # extra symbol
    only_in_model: int = 0


class GoodProbe(CanonicalRecord):
    RECORD_NAME: ClassVar[str] = "probe.Probe"

    qty: QuantityDecimal
    note: str | None = None
    state: State
    only_in_schema: str


def test_comparator_reports_each_kind_of_mismatch() -> None:
    comparison = _Comparison(_PROBE_SCHEMA)
    comparison.record(_PROBE_SCHEMA, Probe, "probe")
    report = "\n".join(comparison.problems)
    assert "probe.qty: schema decimal(18, 6)" in report
    assert "probe.note: schema is nullable" in report
    assert "probe.state: enum probe.State symbols" in report
    assert "probe.only_in_schema: in the schema, missing from Probe" in report
    assert "probe.only_in_model: in Probe, missing from the schema" in report


def test_comparator_reports_a_default_mismatch_and_accepts_a_match() -> None:
    schema = json.loads(json.dumps(_PROBE_SCHEMA))
    schema["fields"][2]["type"]["symbols"] = ["OPEN", "CLOSED", "UNKNOWN"]
    good = _Comparison(schema)
    good.record(schema, GoodProbe, "probe")
    assert good.problems == []

    schema["fields"][3]["default"] = "x"
    bad = _Comparison(schema)
    bad.record(schema, GoodProbe, "probe")
    assert bad.problems == ["probe.only_in_schema: schema default 'x', model default (none)"]
