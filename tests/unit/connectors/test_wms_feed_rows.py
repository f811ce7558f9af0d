"""WMS feed files and mapping: every problem names the file, the row and what to do."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from backbone.events import GoodsReceipt, InventoryMovement, InventorySnapshot, ReceiptCondition
from connectors.wms_feed.connector import WmsFeedConnector
from connectors.wms_feed.files import UnreadableFile, read_rows
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
    assert "the whole file is the dead letter" in reasons[0]


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


def test_a_file_that_is_not_utf8_is_unreadable_as_a_whole() -> None:
    with pytest.raises(UnreadableFile, match="is not UTF-8 text"):
        list(read_rows("feed.csv", b"\xff\xfe bad"))


GOOD_ROW = "MOVEMENT,M1,2026-03-02T11:05:00-05:00,DC1,SKU1,-4,EA,ADJUSTMENT,CC\n"


def test_a_csv_field_over_the_csv_limit_makes_the_file_unreadable_not_a_crash() -> None:
    # the csv module stops at 128 KiB per field (_csv.Error), and an open quote may have
    # swallowed rows before: the file is refused as a whole, with the row reading stopped at
    text = HEADER + GOOD_ROW + GOOD_ROW.replace("SKU1", "x" * 200_000) + GOOD_ROW
    with pytest.raises(UnreadableFile, match="field larger than field limit") as caught:
        list(read_rows("feed.csv", text.encode()))
    assert caught.value.row == 3


def test_a_deeply_nested_json_line_is_a_bad_row_and_the_others_still_map() -> None:
    good = ('{"record_type": "COUNT", "record_id": "C1", "occurred_at": "2026-03-02T06:00:00Z", '
            '"site": "DC1", "sku": "S", "qty": "5", "uom": "EA"}\n')
    text = good + "[" * 100_000 + "\n" + '{"sku": ' + "[" * 50 + "]" * 50 + "}\n" + good
    rows = list(read_rows("feed.jsonl", text.encode()))
    assert [row.row for row in rows] == [1, 2, 3, 4]
    assert rows[1].problem == "is JSON nested too deeply to read; a feed row is one flat object"
    assert rows[2].problem is not None and rows[2].problem.startswith(
        "has nested values in ['sku']")
    assert rows[0].fields is not None and rows[3].fields is not None


def test_an_unreadable_file_is_one_whole_file_dead_letter_then_moves_to_failed(
        tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    bad = (HEADER + GOOD_ROW + "MOVEMENT,M2,\"" + "y" * 140_000 + "\"\n").encode()
    (inbox / "a-bad.csv").write_bytes(bad)
    (inbox / "b-good.csv").write_text(HEADER + GOOD_ROW)
    task = WmsFeedConnector(inbox).task()
    task.start(NoOffsets())
    first = task.poll(100)
    assert len(first) == 1 and first[0].dead_letter is not None
    letter = first[0].dead_letter
    assert letter.value == bad  # the whole file, not only the row reading stopped at
    assert letter.reason.startswith("a-bad.csv row 3: is not CSV the feed can read (field "
                                    "larger than field limit (131072))")
    assert letter.where["whole_file"] == "true" and letter.key == "a-bad.csv"
    assert first[0].source_offset == {"row": 0, "file": "a-bad.csv", "unreadable": True}
    assert (inbox / "a-bad.csv").exists()  # not moved before Kafka acknowledged it
    task.commit(first)
    assert (inbox / "failed" / "a-bad.csv").read_bytes() == bad
    second = task.poll(100)  # the feed goes on with the next file
    assert [r.event.event_type for r in second if r.event] == ["InventoryMovement"]


def test_a_lone_surrogate_escape_is_a_bad_row_not_an_event_avro_cannot_write() -> None:
    # "\ud800" is valid JSON but no UTF-8: the event failed in the serde and the feed died
    rows = list(read_rows("feed.jsonl", b'{"sku": "A\\ud800", "qty": 1}\n{"sku": "\\u00e9"}\n'))
    assert rows[0].problem == ("has a lone surrogate escape (such as \\ud800) in ['sku']; "
                               "export the text as UTF-8")
    assert rows[1].fields == {"sku": "\u00e9"}


class DeliveredOffsets:
    def __init__(self, stored: dict[str, object]) -> None:
        self.stored = stored

    def offset(self, connector: str, partition: object) -> dict[str, object]:
        return self.stored


def test_an_unreadable_file_already_dead_lettered_is_moved_without_a_second_letter(
        tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "bad.csv").write_bytes(b"\xff\xfe")
    task = WmsFeedConnector(inbox).task()
    task.start(DeliveredOffsets({"row": 0, "file": "bad.csv", "unreadable": True}))
    assert task.poll(100) == []
    assert (inbox / "failed" / "bad.csv").is_file() and not (inbox / "bad.csv").exists()


def test_a_file_that_cannot_be_read_is_dead_lettered_and_moved_aside(tmp_path: Path) -> None:
    # a permission error would not stop root (CI); reading /proc/self/mem from its start
    # fails with EIO for everyone, and it passes for a regular file through a link
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "broken.csv").symlink_to("/proc/self/mem")
    (inbox / "good.csv").write_text(HEADER + GOOD_ROW)
    task = WmsFeedConnector(inbox).task()
    task.start(NoOffsets())
    records = task.poll(100)
    assert records[0].dead_letter is not None
    assert records[0].dead_letter.reason.startswith(
        "broken.csv: cannot be read (Input/output error); check its permissions")
    assert records[0].dead_letter.value == b""
    task.commit(records)
    assert (inbox / "failed" / "broken.csv").is_symlink()
    assert [r.event.event_type for r in task.poll(100) if r.event] == ["InventoryMovement"]


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
