"""WMS feed files and mapping: every problem names the file, the row and what to do."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from backbone.events import GoodsReceipt, InventoryMovement, InventorySnapshot, ReceiptCondition
from connectors.wms_feed.connector import WmsFeedConnector
from connectors.wms_feed.files import read_rows
from connectors.wms_feed.mapping import BadRow, map_row

NOW = datetime(2026, 3, 3, tzinfo=UTC)
HEADER = "record_type,record_id,occurred_at,site,sku,qty,uom,movement_type,reason\n"


class NoOffsets:
    def offset(self, connector: str, partition: object) -> None:
        return None


def records_of(tmp_path: Path, name: str, text: str) -> list[str]:
    """Reasons of the dead letters (or 'ok <event type>') of one file, in row order."""
    inbox = tmp_path / "inbox"
    inbox.mkdir(exist_ok=True)
    (inbox / name).write_text(text)
    task = WmsFeedConnector(inbox).task()
    task.start(NoOffsets())
    records = task.poll(100)
    return [r.dead_letter.reason if r.dead_letter else f"ok {r.event.event_type}"
            for r in records if r.dead_letter or r.event]


def test_bad_rows_name_file_row_and_problem_while_good_rows_map(tmp_path: Path) -> None:
    text = (HEADER
            + "MOVEMENT,M1,2026-03-02T11:05:00-05:00,DC1,SKU1,-4,EA,ADJUSTMENT,CC\n"
            + "MOVEMENT,M2,2026-03-02T11:05:00-05:00,DC1,SKU1,-4,EA,ADJUSTMENT\n"
            + "MOVEMENT,M3,2026-03-02T11:05:00-05:00,DC1,SKU1,1.2.3,EA,ADJUSTMENT,CC\n"
            + "MOVEMENT,M4,03/02/2026 11:05,DC1,SKU1,-4,EA,ADJUSTMENT,CC\n"
            + "MOVEMENT,M5,2026-03-02T11:05:00Z,DC1,SKU1,-4,EA,ADJUSTMENT,ZZ\n"
            + "COUNT,C1,2026-03-02T06:00:00Z,DC1,SKU1,12,EA,,\n")
    assert records_of(tmp_path, "feed.csv", text) == [
        "ok InventoryMovement",
        "feed.csv row 3: has 8 columns, the header has 9; quote values that contain commas",
        "feed.csv row 4: qty '1.2.3' is not a number (write e.g. 12 or -3.5)",
        "feed.csv row 5: occurred_at '03/02/2026 11:05' is not an ISO-8601 date-time "
        "(write e.g. 2026-03-02T14:05:00-05:00)",
        "feed.csv row 6: reason 'ZZ' is not a known WMS reason code (CC, DM, EX, FD, KT, QH, "
        "RC, RW, SC, SH, TR, WO) or canonical reason; add it to REASON_CODES in "
        "connectors/wms_feed/mapping.py",
        "ok InventorySnapshot",
    ]


def test_json_lines_problems_are_positioned_too(tmp_path: Path) -> None:
    text = ('{"record_type": "RECEIPT", "record_id": "R1", "occurred_at": '
            '"2026-03-02T10:42:00-05:00", "site": "DC1", "sku": "S", "qty": "24", "uom": "BX"}\n'
            '{"record_type": "RECEIPT", "record_id": "R1"\n'
            '{"record_type": "RECEIPT", "record_id": "R2", "occurred_at": '
            '"2026-03-02T10:42:00Z", "site": "DC1", "sku": "S", "qty": "-1", "uom": "BX"}\n'
            '{"record_type": "RECEIPT", "colour": "red"}\n')
    reasons = records_of(tmp_path, "feed.jsonl", text)
    assert reasons[0] == "ok GoodsReceipt"
    assert reasons[1].startswith("feed.jsonl row 2: is not JSON")
    assert reasons[2].startswith("feed.jsonl row 3: qty '-1' of a RECEIPT is negative")
    assert reasons[3].startswith("feed.jsonl row 4: has unknown fields ['colour']")


def test_unknown_header_column_rejects_the_file_with_the_known_columns(tmp_path: Path) -> None:
    reasons = records_of(tmp_path, "feed.csv", "record_type,quantity\nCOUNT,1\n")
    assert len(reasons) == 1
    assert reasons[0].startswith("feed.csv row 1: header has unknown columns ['quantity']")


def test_rows_map_to_movement_snapshot_and_receipt() -> None:
    base = {"record_id": "X1", "occurred_at": "2026-03-02T11:05:00-05:00", "site": "DC-ATL-01",
            "sku": "VLV-0075-BRS", "qty": "-4", "uom": "EA"}
    movement = map_row({**base, "record_type": "MOVEMENT", "movement_type": "adjustment",
                        "reason": "DM"}, instance="wms", source_ref="f.csv:2", recorded_at=NOW)
    assert isinstance(movement, InventoryMovement)
    assert movement.qty_delta.value == Decimal("-4")
    assert movement.idempotency_key == "wms:movement:X1:VLV-0075-BRS"
    count = map_row({**base, "record_type": "COUNT", "qty": "600", "available": "480"},
                    instance="wms", source_ref="f.csv:3", recorded_at=NOW)
    assert isinstance(count, InventorySnapshot)
    assert set(count.quantities) == {"ON_HAND", "AVAILABLE"}
    receipt = map_row({**base, "record_type": "RECEIPT", "qty": "24", "condition": "damaged"},
                      instance="wms", source_ref="f.csv:4", recorded_at=NOW)
    assert isinstance(receipt, GoodsReceipt)
    assert receipt.lines[0].condition is ReceiptCondition.DAMAGED
    with pytest.raises(BadRow, match="record_type 'TRANSFER' is not MOVEMENT, COUNT or RECEIPT"):
        map_row({**base, "record_type": "TRANSFER"}, instance="wms", source_ref="f",
                recorded_at=NOW)


def test_utf8_problems_are_reported_not_raised() -> None:
    rows = list(read_rows("feed.csv", b"\xff\xfe bad"))
    assert rows[0].problem is not None and "not UTF-8" in rows[0].problem


@pytest.mark.parametrize(("stamp", "minutes"), [
    ("2026-03-02T06:00:00Z", 0), ("2026-03-02T06:00:00+00:00", 0),
    ("2026-03-02T06:00:00-05:00", -300),
])
def test_a_zero_utc_offset_is_recorded_as_zero_not_unknown(stamp: str, minutes: int) -> None:
    row = {"record_type": "COUNT", "record_id": "C1", "occurred_at": stamp, "site": "DC1",
           "sku": "SKU1", "qty": "12", "uom": "EA"}
    count = map_row(row, instance="wms", source_ref="feed.csv#2", recorded_at=NOW)
    assert isinstance(count, InventorySnapshot)
    assert (count.occurred_at_offset_minutes, count.as_of_offset_minutes) == (minutes, minutes)
