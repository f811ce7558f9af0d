"""Avro -> columns, table names, offsets in snapshot summaries, latest views (local catalog)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from pyiceberg.exceptions import CommitFailedException

from backbone import schemas
from backbone.settings import load_settings
from backbone.topics import topic
from sinks.iceberg import query
from sinks.iceberg.schema import (
    KAFKA_COLUMN_NAMES,
    UnsupportedSchema,
    arrow_schema,
    decoding_schema,
    default_topics,
    sink_topics,
    table_name,
)
from sinks.iceberg.sink import _to_arrow
from sinks.iceberg.tables import TableCommit, committed_offsets, ensure_table, open_catalog

POSITIONS = "inventory.position.v1"


def test_avro_types_become_the_documented_column_types() -> None:
    columns = arrow_schema(schemas.load(topic("procurement.order-line-status.v1").record or ""))
    assert columns.field("occurred_at").type == pa.timestamp("us", tz="UTC")
    assert pa.types.is_struct(columns.field("source").type)  # nested record
    assert columns.field("event_id").type == pa.string()  # uuid
    assert columns.field("order_state").type == pa.string()  # enum
    line = columns.field("lines").type.value_type
    assert line.field("ordered_qty").type == pa.decimal128(18, 6)
    assert pa.types.is_map(line.field("acked_qty_by_status").type)
    assert all(field.nullable for field in columns)
    assert set(columns.names) >= KAFKA_COLUMN_NAMES


def test_a_union_of_two_types_is_refused_naming_the_field() -> None:
    avro = {"type": "record", "name": "R", "fields": [
        {"name": "either", "type": ["null", "int", "string"]}]}
    with pytest.raises(UnsupportedSchema, match=r"R\.either"):
        arrow_schema(avro)


def test_a_field_named_like_a_kafka_column_is_refused() -> None:
    avro = {"type": "record", "name": "R", "fields": [{"name": "kafka_offset", "type": "long"}]}
    with pytest.raises(UnsupportedSchema, match="kafka_offset"):
        arrow_schema(avro)


def test_uuid_is_decoded_as_text() -> None:
    avro = schemas.load(topic(POSITIONS).record or "")
    assert "uuid" not in json.dumps(decoding_schema(avro))
    assert "uuid" in json.dumps(avro)  # the original is left alone


def test_tables_are_named_by_entity() -> None:
    names = {name: table_name(name) for name in default_topics()}
    assert names["logistics.shipment-status.v1"] == "shipment_status"
    assert names["procurement.order-line-status.v1"] == "order_line_status"
    assert names["inventory.position.v1"] == "inventory_position"
    assert names["inventory.discrepancy.v1"] == "inventory_discrepancy"
    assert names["procurement.purchase-order.v1"] == "purchase_order"
    assert len(set(names.values())) == len(names) == 12


def test_choosing_a_topic_that_is_not_canonical_names_it() -> None:
    with pytest.raises(ValueError, match=r"edi-x12\.dlq\.v1 carries bytes"):
        sink_topics(["edi-x12.dlq.v1"])
    with pytest.raises(ValueError, match=r"not\.a\.topic"):
        sink_topics(["not.a.topic"])
    assert sink_topics([POSITIONS], "t1")[0].name == "t1.inventory.position.v1"


def _row(offset: int, key: str, at: datetime) -> dict[str, Any]:
    return {"event_id": f"e{offset}", "occurred_at": at, "sku": key, "kafka_key": key,
            "kafka_partition": 0, "kafka_offset": offset}


COLUMNS = pa.schema([pa.field("event_id", pa.string()),
                     pa.field("occurred_at", pa.timestamp("us", tz="UTC")),
                     pa.field("sku", pa.string()), pa.field("kafka_key", pa.string()),
                     pa.field("kafka_partition", pa.int32()),
                     pa.field("kafka_offset", pa.int64())])
AT = datetime(2026, 12, 4, 9, 30, tzinfo=UTC)


@pytest.fixture
def table_of(tmp_path: Path) -> Any:
    catalog = open_catalog(load_settings(state_dir=tmp_path))
    sink_topic = sink_topics([POSITIONS])[0]
    return catalog, ensure_table(catalog, "backbone", sink_topic, COLUMNS)


def test_offsets_are_committed_with_the_rows_and_read_back(table_of: Any) -> None:
    catalog, table = table_of
    assert str(table.spec().fields[0].transform) == "day"
    assert committed_offsets(table, POSITIONS) == {}
    commit = TableCommit(table, [COLUMNS])
    rows, failed = _to_arrow([_row(0, "A", AT), _row(1, "B", AT)], commit.columns)
    assert failed == []
    table = commit.write(rows, POSITIONS, {0: 2, 1: 7})
    table = catalog.load_table(("backbone", "inventory_position"))
    assert committed_offsets(table, POSITIONS) == {0: 2, 1: 7}
    assert committed_offsets(table, "another.topic") == {}
    # a snapshot another tool makes (no offsets in it) does not hide ours
    table.append(pa.Table.from_pylist([_row(9, "Z", AT)], schema=table.schema().as_arrow()))
    assert committed_offsets(catalog.load_table(("backbone", "inventory_position")),
                             POSITIONS) == {0: 2, 1: 7}


def test_a_second_writer_on_the_same_snapshot_fails_instead_of_duplicating(
        table_of: Any) -> None:
    catalog, table = table_of
    first, second = TableCommit(table, [COLUMNS]), TableCommit(table, [COLUMNS])
    rows, _ = _to_arrow([_row(0, "A", AT)], first.columns)
    table = first.write(rows, POSITIONS, {0: 1})
    with pytest.raises(CommitFailedException):
        second.write(rows, POSITIONS, {0: 1})
    # the writer that committed goes on from its own snapshot
    TableCommit(table, [COLUMNS]).write(_to_arrow([_row(1, "B", AT)], COLUMNS)[0], POSITIONS,
                                        {0: 2})
    table = catalog.load_table(("backbone", "inventory_position"))
    assert sorted(table.scan().to_arrow().column("kafka_offset").to_pylist()) == [0, 1]
    assert committed_offsets(table, POSITIONS) == {0: 2}


def test_a_row_that_does_not_fit_is_set_apart_and_the_rest_kept() -> None:
    columns = pa.schema([pa.field("qty", pa.decimal128(18, 6)), pa.field("kafka_offset",
                                                                         pa.int64())])
    rows = [{"qty": Decimal("1.5"), "kafka_offset": 0},
            {"qty": Decimal("1" * 20), "kafka_offset": 1},
            {"qty": Decimal("2"), "kafka_offset": 2}]
    table, failed = _to_arrow(rows, columns)
    assert table.column("kafka_offset").to_pylist() == [0, 2]
    assert [index for index, _ in failed] == [1]
    assert isinstance(failed[0][1], pa.ArrowInvalid)


def test_the_latest_view_keeps_the_newest_row_per_key(table_of: Any) -> None:
    catalog, table = table_of
    commit = TableCommit(table, [COLUMNS])
    rows, _ = _to_arrow([_row(0, "A", AT), _row(1, "B", AT), _row(2, "A", AT)], commit.columns)
    commit.write(rows, POSITIONS, {0: 3})
    columns, result = query.run(catalog, "backbone",
                                "SELECT kafka_key, kafka_offset FROM inventory_position_latest "
                                "ORDER BY kafka_key")
    assert (columns, result) == (["kafka_key", "kafka_offset"], [("A", 2), ("B", 1)])
    lines = list(query.json_lines(*query.run(
        catalog, "backbone", "SELECT occurred_at, 1.50::DECIMAL(9,2) AS q FROM "
                             "inventory_position LIMIT 1")))
    assert json.loads(lines[0]) == {"occurred_at": "2026-12-04T09:30:00.000Z", "q": "1.50"}


def _documented_queries() -> list[str]:
    root = Path(__file__).resolve().parents[3]
    text = (root / "README.md").read_text() + (root / "sinks/iceberg/README.md").read_text()
    found = re.findall(r'backbone query (?:--json )?"([^"]+)"', text)
    assert len(found) >= 5, found
    return [" ".join(query_text.split()) for query_text in found if query_text != "SQL"]


def test_every_documented_query_runs_against_the_tables(tmp_path: Path) -> None:
    from demo.analysts import ORDER_LINES_BY_STATE

    catalog = open_catalog(load_settings(state_dir=tmp_path))
    for sink_topic in sink_topics(default_topics()):
        ensure_table(catalog, "backbone", sink_topic,
                     arrow_schema(schemas.load(sink_topic.catalog.record or "")))
    for text in [*_documented_queries(), ORDER_LINES_BY_STATE]:
        columns, _ = query.run(catalog, "backbone", text)  # binds every name it uses
        assert columns, text
