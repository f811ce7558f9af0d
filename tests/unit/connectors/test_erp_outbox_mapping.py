"""ERP outbox mapping: sample rows map, bad rows fail naming the row."""

from __future__ import annotations

import json
import re
import sqlite3
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from backbone.errors import Category
from backbone.events import InventorySnapshot, PurchaseOrderChanged, PurchaseOrderPurpose
from connectors.erp_outbox.mapping import (
    EVENT_ID_NAMESPACE,
    OutboxRow,
    UnmappableRow,
    event_id_for,
    map_row,
)

ERP = Path(__file__).resolve().parents[3] / "connectors" / "erp_outbox"
NOW = datetime(2026, 3, 3, tzinfo=UTC)


def sample_rows() -> list[OutboxRow]:
    db = sqlite3.connect(":memory:")
    db.executescript((ERP / "schema.sqlite.sql").read_text())
    db.executescript((ERP / "sample.sql").read_text())
    return [OutboxRow(seq, id_, at, ai, t, p, datetime.fromisoformat(c))
            for seq, id_, at, ai, t, p, c in db.execute(
                "SELECT seq, id, aggregatetype, aggregateid, type, payload, created_at "
                "FROM outbox ORDER BY seq")]


def row(payload: object, aggregatetype: str = "PurchaseOrder",
        type_: str = "PurchaseOrderCreated") -> OutboxRow:
    return OutboxRow(7, "11111111-2222-3333-4444-555555555555", aggregatetype, "x", type_,
                     json.dumps(payload), NOW)


def test_sample_has_creates_changes_cancels_and_snapshots_that_map() -> None:
    rows = sample_rows()
    assert len(rows) >= 10
    events = [map_row(r, instance="erp", recorded_at=NOW) for r in rows[:-1]]
    purposes = {e.purpose for e in events if isinstance(e, PurchaseOrderChanged)}
    assert purposes == {PurchaseOrderPurpose.ORIGINAL, PurchaseOrderPurpose.CHANGE,
                        PurchaseOrderPurpose.REPLACE, PurchaseOrderPurpose.CANCEL}
    assert sum(isinstance(e, InventorySnapshot) for e in events) == 5
    first_po = next(e for e in events if isinstance(e, PurchaseOrderChanged))
    assert first_po.total_amount == Decimal("6495.7800")  # 36 x 85.64 + 46 x 74.19
    assert first_po.occurred_at_offset_minutes == -300
    assert first_po.idempotency_key == f"erp:outbox:{rows[2].id}"
    assert first_po.event_id == event_id_for(first_po.idempotency_key)
    with pytest.raises(UnmappableRow, match="unknown aggregatetype 'Invoice'"):
        map_row(rows[-1], instance="erp", recorded_at=NOW)


def test_same_row_maps_to_the_same_event_id_on_every_relay() -> None:
    first = map_row(sample_rows()[0], instance="erp", recorded_at=NOW)
    again = map_row(sample_rows()[0], instance="erp", recorded_at=datetime.now(UTC))
    assert (first.event_id, first.idempotency_key) == (again.event_id, again.idempotency_key)
    # the id consumers have already seen for this row: a relay upgrade must not change it
    assert first.event_id == "0a0e1a4e-6fe8-5f62-b787-98e71420b44c"


@pytest.mark.parametrize("key", [
    "erp:outbox:0b5e1f0a-6a43-4c1e-9d7e-1a2b3c4d5e01", "", "erp-2:outbox:r1",
    "lager-nürnberg:outbox:\u00e9\u4e2d\U0001f4e6", "x" * 1000,
])
def test_event_ids_are_uuid5_of_the_idempotency_key(key: str) -> None:
    assert event_id_for(key) == str(uuid.uuid5(EVENT_ID_NAMESPACE, key))


@pytest.mark.parametrize(("payload", "aggregatetype", "type_", "message", "category"), [
    ({}, "PurchaseOrder", "PurchaseOrderShipped", "unknown type 'PurchaseOrderShipped'",
     Category.UNKNOWN_CODE),
    ({"po_number": "1"}, "PurchaseOrder", "PurchaseOrderCreated", "payload.buyer is missing",
     Category.SCHEMA_VALIDATION),
    ({"buyer": "B", "po_number": "1", "lines": [{"line": "1", "sku": "S", "qty": "ten",
                                                 "uom": "EA"}]},
     "PurchaseOrder", "PurchaseOrderCreated", r"payload.lines\[0\].qty 'ten' is not a number",
     Category.SCHEMA_VALIDATION),
    ({"buyer": "B", "po_number": "1", "po_date": "02/03/2026", "lines": []}, "PurchaseOrder",
     "PurchaseOrderCancelled", "payload.po_date '02/03/2026' is not a date",
     Category.SCHEMA_VALIDATION),
    ({"sku": "S", "location": "L", "uom": "EA", "as_of": "2026-03-02T06:00:00",
      "quantities": {"ON_HAND": 1}}, "Stock", "StockSnapshot", "has no UTC offset",
     Category.SCHEMA_VALIDATION),
    ({"sku": "S", "location": "L", "uom": "EA", "as_of": "2026-03-02T06:00:00Z",
      "quantities": {"ON_HAND": "1.1234567"}}, "Stock", "StockSnapshot",
     "more than 6 decimal places", Category.SCHEMA_VALIDATION),
    # found by fuzzing: qty x price of two valid decimals has up to 36 digits, so the total
    # raised decimal.InvalidOperation (28-digit context) and the relay died
    ({"buyer": "B", "po_number": "1", "lines": [{"line": "1", "sku": "S", "qty": "999999999999",
                                                 "uom": "EA", "unit_price": "99999999999999"}]},
     "PurchaseOrder", "PurchaseOrderCreated",
     "total_amount: Value error, 99999999999899000000000001.0000 has more than 14 integer "
     "digits", Category.SCHEMA_VALIDATION),
    ({"sku": "S", "location": "L", "uom": "EA", "as_of": "2026-03-02T06:00:00Z",
      "quantities": {"ON_HAND": "1" * 5000}}, "Stock", "StockSnapshot",
     r"1\.1{39}E\+4999 has more than 12 integer digits", Category.SCHEMA_VALIDATION),
])
def test_rows_that_do_not_map_name_the_row_and_the_problem(
        payload: object, aggregatetype: str, type_: str, message: str,
        category: Category) -> None:
    with pytest.raises(UnmappableRow) as caught:
        map_row(row(payload, aggregatetype, type_), instance="erp", recorded_at=NOW)
    assert str(caught.value).startswith(
        f"outbox row 11111111-2222-3333-4444-555555555555 (seq 7, {aggregatetype}/{type_})")
    assert re.search(message, str(caught.value))
    assert caught.value.category is category


def test_payload_that_is_not_json_is_a_deserialization_failure() -> None:
    bad = OutboxRow(1, "r1", "Stock", "x", "StockSnapshot", "{not json", NOW)
    with pytest.raises(UnmappableRow, match="payload is not JSON") as caught:
        map_row(bad, instance="erp", recorded_at=NOW)
    assert caught.value.category is Category.DESERIALIZATION


@pytest.mark.parametrize("payload", ['{"sku": "A\\ud800", "location": "L"}',
                                     b'{"quantities": {"\\udfff": 1}}'])
def test_a_lone_surrogate_escape_is_a_dead_letter_not_an_event_avro_cannot_write(
        payload: str) -> None:
    bad = OutboxRow(1, "r1", "Stock", "x", "StockSnapshot", payload, NOW)
    with pytest.raises(UnmappableRow, match="payload has a lone surrogate escape") as caught:
        map_row(bad, instance="erp", recorded_at=NOW)
    assert caught.value.category is Category.DESERIALIZATION


def test_payload_with_a_byte_order_mark_says_so() -> None:
    bad = OutboxRow(1, "r1", "Stock", "x", "StockSnapshot", "\ufeff{}", NOW)
    with pytest.raises(UnmappableRow, match=r"Unexpected UTF-8 BOM \(decode using utf-8-sig\)"):
        map_row(bad, instance="erp", recorded_at=NOW)


@pytest.mark.parametrize("as_of", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"])
def test_a_date_that_leaves_the_calendar_in_utc_is_a_dead_letter_not_a_crash(as_of: str) -> None:
    payload = {"sku": "S", "location": "L", "uom": "EA", "as_of": as_of,
               "quantities": {"ON_HAND": 1}}
    with pytest.raises(UnmappableRow, match=r"as_of.*outside the calendar") as caught:
        map_row(row(payload, "Stock", "StockSnapshot"), instance="erp", recorded_at=NOW)
    assert caught.value.category is Category.SCHEMA_VALIDATION


def test_a_payload_nested_beyond_the_parser_is_a_dead_letter_not_a_crash() -> None:
    deep = OutboxRow(1, "r1", "Stock", "x", "StockSnapshot", "[" * 100_000 + "]" * 100_000, NOW)
    with pytest.raises(UnmappableRow, match="nested too deeply") as caught:
        map_row(deep, instance="erp", recorded_at=NOW)
    assert caught.value.category is Category.DESERIALIZATION


@pytest.mark.parametrize(("stamp", "minutes"), [
    ("2026-03-02T14:05:00Z", 0), ("2026-03-02T14:05:00+00:00", 0),
    ("2026-03-02T14:05:00-05:00", -300), ("2026-03-02T14:05:00+05:30", 330),
])
def test_a_zero_utc_offset_is_recorded_as_zero_not_unknown(stamp: str, minutes: int) -> None:
    po = map_row(row({"buyer": "ACME", "po_number": "4500000001", "change_sequence": "1",
                      "occurred_at": stamp}, type_="PurchaseOrderCancelled"),
                 instance="erp", recorded_at=NOW)
    assert po.occurred_at_offset_minutes == minutes
    snapshot = map_row(row({"sku": "SKU1", "location": "DC1", "uom": "EA",
                            "quantities": {"ON_HAND": "3"}, "as_of": stamp},
                           "Stock", "StockSnapshot"), instance="erp", recorded_at=NOW)
    assert (snapshot.occurred_at_offset_minutes, snapshot.as_of_offset_minutes) == (
        None, minutes)  # no occurred_at in the payload: the row's created_at, offset unknown
