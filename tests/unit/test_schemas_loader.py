"""The schema loader: self-contained schemas from schemas/, and refusal of recursive types."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import fastavro
import pytest

from backbone import schemas


def _write(directory: Path, schema: dict[str, Any]) -> None:
    full = f"{schema['namespace']}.{schema['name']}"
    (directory / f"{full}.avsc").write_text(json.dumps(schema))


def _record(name: str, fields: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "record", "name": name, "namespace": "test", "doc": name, "fields": fields}


def _definitions(node: Any, name: str) -> int:
    if isinstance(node, list):
        return sum(_definitions(item, name) for item in node)
    if isinstance(node, dict):
        own = 1 if node.get("name") == name and "type" in node and node["type"] != name else 0
        nested = [node.get("type"), node.get("fields"), node.get("items"), node.get("values")]
        return own + sum(_definitions(item, name) for item in nested if not isinstance(item, str))
    return 0


def test_schema_dir_is_the_repository_schemas_folder() -> None:
    assert schemas.SCHEMA_DIR.name == "schemas"
    assert (schemas.SCHEMA_DIR / "backbone.logistics.Milestone.avsc").is_file()


def test_loaded_schema_is_self_contained_with_each_type_defined_once() -> None:
    schema = schemas.load("backbone.procurement.PurchaseOrderChanged")
    # parse without any named_schemas: nothing may be left to resolve elsewhere
    fastavro.parse_schema(schema, named_schemas={})
    assert _definitions(schema, "backbone.common.Quantity") == 1
    assert _definitions(schema, "backbone.common.ItemRef") == 1
    assert "backbone.common.Quantity" in json.dumps(schema)


def test_schema_text_keeps_docs_defaults_and_logical_types() -> None:
    text = schemas.schema_text("backbone.logistics.ShipmentMilestone")
    assert json.loads(text) == schemas.load("backbone.logistics.ShipmentMilestone")
    assert '"doc":' in text
    assert '"default":"UNKNOWN"' in text
    assert '"logicalType":"timestamp-millis"' in text


def test_load_returns_a_fresh_copy() -> None:
    first = schemas.load("backbone.inventory.InventorySnapshot")
    first["fields"].clear()
    assert schemas.load("backbone.inventory.InventorySnapshot")["fields"]


def test_event_records_lists_only_events() -> None:
    records = schemas.event_records()
    assert len(records) == 12
    assert "backbone.common.PartyRef" not in records
    assert "backbone.logistics.RawStatus" not in records
    assert records == sorted(records)


def test_direct_recursion_is_refused(tmp_path: Path) -> None:
    _write(
        tmp_path,
        _record(
            "Node",
            [{"name": "next", "type": ["null", "test.Node"], "default": None, "doc": "d"}],
        ),
    )
    with pytest.raises(ValueError, match=r"test\.Node is recursive \(test\.Node -> test\.Node\)"):
        schemas.load("test.Node", tmp_path)


def test_indirect_recursion_across_files_is_refused(tmp_path: Path) -> None:
    _write(tmp_path, _record("A", [{"name": "b", "type": "test.B", "doc": "d"}]))
    _write(
        tmp_path,
        _record(
            "B",
            [{"name": "a", "type": {"type": "array", "items": "A"}, "doc": "d"}],
        ),
    )
    with pytest.raises(ValueError, match=r"test\.A -> test\.B -> test\.A"):
        schemas.load("test.A", tmp_path)


def test_reused_type_is_not_mistaken_for_recursion(tmp_path: Path) -> None:
    _write(tmp_path, _record("Leaf", [{"name": "v", "type": "string", "doc": "d"}]))
    _write(
        tmp_path,
        _record(
            "Root",
            [
                {"name": "one", "type": "test.Leaf", "doc": "d"},
                {"name": "two", "type": ["null", "test.Leaf"], "default": None, "doc": "d"},
            ],
        ),
    )
    schema = schemas.load("test.Root", tmp_path)
    assert schema["fields"][1]["type"] == ["null", "test.Leaf"]
    assert schema["fields"][0]["type"]["name"] == "test.Leaf"


def test_missing_referenced_file_is_named(tmp_path: Path) -> None:
    _write(tmp_path, _record("Root", [{"name": "x", "type": "test.Missing", "doc": "d"}]))
    with pytest.raises(ValueError, match=r"test\.Missing is referenced but .*test\.Missing\.avsc"):
        schemas.load("test.Root", tmp_path)


def test_file_name_must_be_the_full_name(tmp_path: Path) -> None:
    (tmp_path / "test.Wrong.avsc").write_text(json.dumps(_record("Right", [])))
    with pytest.raises(
        ValueError, match=r"declares test\.Right; the file name must be the full name"
    ):
        schemas.load("test.Wrong", tmp_path)


def test_invalid_avro_is_reported_with_the_record(tmp_path: Path) -> None:
    _write(
        tmp_path,
        _record("Bad", [{"name": "n", "type": ["null", "int"], "default": 3, "doc": "d"}]),
    )
    with pytest.raises(
        ValueError,
        match=r"schema test\.Bad .* is not valid Avro: default 3 of field n does not fit type null",
    ):
        schemas.load("test.Bad", tmp_path)
