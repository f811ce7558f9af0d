"""WMS feed against the real broker and registry: good rows publish, bad rows dead-letter,
files move after delivery, a file read again publishes nothing new."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from backbone import headers
from connectors.offsets import KafkaOffsetStore
from tests.integration.conftest import ConnectTopics, consume

pytestmark = pytest.mark.integration
BACKBONE = str(Path(sys.executable).with_name("backbone"))
SAMPLES = Path(__file__).resolve().parents[2] / "connectors" / "wms_feed" / "samples"
MOVEMENTS = "20260302-1400-dc-atl-01-movements.csv"


def run_feed(inbox: Path, topics: ConnectTopics) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BACKBONE, "connect", "wms-feed", "--inbox", str(inbox), "--once",
                           *topics.cli_args()], capture_output=True, text=True, timeout=120)


def test_sample_feed_publishes_good_rows_and_dead_letters_bad_ones(
        tmp_path: Path, connect_topics: ConnectTopics, bootstrap_servers: str) -> None:
    inbox = tmp_path / "inbox"
    shutil.copytree(SAMPLES, inbox)
    result = run_feed(inbox, connect_topics)
    assert result.returncode == 1, result.stderr  # partial: bad rows were rejected
    assert "14 events published, 3 dead letters" in result.stderr

    counts = {kind: len(consume(bootstrap_servers, topic, idle_s=2))
              for kind, topic in connect_topics.events.items()}
    assert counts == {"PurchaseOrderChanged": 0, "InventorySnapshot": 5,
                      "InventoryMovement": 5, "GoodsReceipt": 4}
    letters = consume(bootstrap_servers, connect_topics.dead_letters, expect=3)
    reasons = sorted(headers.as_dict(m.headers())["backbone.dlq.exception.message"]
                     for m in letters)
    assert reasons[0].startswith(f"{MOVEMENTS} row 10: has 11 columns, the header has 15")
    assert reasons[1].startswith(f"{MOVEMENTS} row 8: qty 'twelve' is not a number")
    assert reasons[2].startswith(f"{MOVEMENTS} row 9: occurred_at '2026-03-02 13:40' has no "
                                 "UTC offset")
    assert letters[0].value().decode().startswith("MOVEMENT,MOV-55201")
    assert sorted(p.name for p in (inbox / "processed").iterdir()) == sorted(
        p.name for p in SAMPLES.iterdir())
    assert not list(inbox.glob("*.csv"))

    # the same file dropped again publishes nothing new and is moved away again
    shutil.copy(SAMPLES / MOVEMENTS, inbox / "resent-movements.csv")
    again = run_feed(inbox, connect_topics)
    assert again.returncode == 0 and "0 events published, 0 dead letters" in again.stderr
    assert (inbox / "processed" / "resent-movements.csv").is_file()
    assert len(consume(bootstrap_servers, connect_topics.events["InventoryMovement"],
                       idle_s=2)) == 5


def test_a_partly_delivered_file_resumes_after_its_last_delivered_row(
        tmp_path: Path, connect_topics: ConnectTopics, bootstrap_servers: str) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    shutil.copy(SAMPLES / MOVEMENTS, inbox / MOVEMENTS)
    digest = hashlib.sha256((SAMPLES / MOVEMENTS).read_bytes()).hexdigest()
    # as if a crash happened after rows 2..5 were delivered and before the file was moved
    store = KafkaOffsetStore(bootstrap_servers, topic=connect_topics.offsets)
    store.commit("wms-feed", [({"inbox": str(inbox.resolve()), "sha256": digest},
                               {"row": 5, "file": MOVEMENTS})])

    result = run_feed(inbox, connect_topics)
    assert "2 events published, 3 dead letters" in result.stderr, result.stderr
    movements = consume(bootstrap_servers, connect_topics.events["InventoryMovement"],
                        idle_s=2)
    # rows 6 and 7 (MOV-5520103, -104) and nothing of rows 2..5
    assert sorted(m.key() for m in movements) == [b"FLT-0920-HEPA@DC-ATL-01",
                                                  b"SCR-M6-25-ZN@DC-ATL-01"]
    assert consume(bootstrap_servers, connect_topics.events["GoodsReceipt"], idle_s=2) == []


def test_bad_files_never_halt_the_feed(
        tmp_path: Path, connect_topics: ConnectTopics, bootstrap_servers: str) -> None:
    """The crashes a mutation fuzz found (issue 14): a CSV field over the csv module's 128 KiB
    limit, a deeply nested JSON line, an event too large for its topic. Each used to kill
    `connect wms-feed` with the file left in the inbox, so the restarted feed died on it again."""
    header = "record_type,record_id,occurred_at,site,sku,qty,uom,movement_type,reason\n"
    good = "MOVEMENT,M{n},2026-03-02T11:05:00-05:00,DC1,SKU{n},-4,EA,ADJUSTMENT,CC\n"
    # 1.2 MB: over the field limit (unreadable as a whole) and over what one record takes
    huge_field = (header + good.format(n=1) + good.format(n=2).replace("SKU2", "x" * 1_200_000)
                  + good.format(n=3)).encode()
    count = ('{"record_type": "COUNT", "record_id": "C%d", "occurred_at": '
             '"2026-03-02T06:00:00Z", "site": "DC1", "sku": "S%d", "qty": "5", "uom": "EA"%s}\n')
    lines = (count % (1, 1, "") + "[" * 200_000 + "\n"
             + count % (2, 2, ', "description": "%s"' % ("d" * 1_500_000)) + count % (3, 3, ""))
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "a-huge-field.csv").write_bytes(huge_field)
    (inbox / "b-deep.jsonl").write_text(lines)
    (inbox / "c-good.csv").write_text(header + good.format(n=4))
    # not UTF-8, under a name that is not UTF-8 either (its key and headers must still encode)
    (inbox / os.fsdecode(b"d-\xff.jsonl")).write_bytes(b"\xff\xfe{}\n")

    result = run_feed(inbox, connect_topics)
    assert result.returncode == 1, result.stderr  # partial: the rest was published
    assert "Traceback" not in result.stderr
    assert "3 events published, 4 dead letters" in result.stderr

    letters = {headers.as_dict(m.headers())["backbone.dlq.exception.message"].split(":")[0]: m
               for m in consume(bootstrap_servers, connect_topics.dead_letters, expect=4)}
    assert sorted(letters) == ["InventorySnapshot wms", "a-huge-field.csv row 3",
                               "b-deep.jsonl row 2", "d-\\udcff.jsonl"]
    assert letters["d-\\udcff.jsonl"].key() == b"d-\\udcff.jsonl"
    assert letters["d-\\udcff.jsonl"].value() == b"\xff\xfe{}\n"
    assert (inbox / "failed" / os.fsdecode(b"d-\xff.jsonl")).is_file()
    whole = letters["a-huge-field.csv row 3"]
    whole_headers = headers.as_dict(whole.headers())
    assert "field larger than field limit" in whole_headers["backbone.dlq.exception.message"]
    assert whole_headers["backbone.dlq.source.whole_file"] == "true"
    # the whole file, cut to what one Kafka record takes, and how to check it is that file
    assert whole_headers["backbone.dlq.source.value_truncated"] == "true"
    assert whole_headers["backbone.dlq.source.value_bytes"] == str(len(huge_field))
    assert whole_headers["backbone.dlq.source.value_sha256"] == \
        hashlib.sha256(huge_field).hexdigest()
    assert huge_field.startswith(whole.value()) and len(whole.value()) == 900_000
    assert (inbox / "failed" / "a-huge-field.csv").read_bytes() == huge_field
    too_large = headers.as_dict(letters["InventorySnapshot wms"].headers())
    assert "EventTooLargeError" in too_large["backbone.dlq.exception.message"]
    assert too_large["backbone.dlq.category"] == "SCHEMA_VALIDATION"
    assert letters["b-deep.jsonl row 2"].value() == b"[" * 200_000

    published = {kind: sorted(m.key() for m in consume(bootstrap_servers, name, idle_s=2))
                 for kind, name in connect_topics.events.items()}
    assert published["InventorySnapshot"] == [b"S1@DC1", b"S3@DC1"]
    assert published["InventoryMovement"] == [b"SKU4@DC1"]  # nothing of the unreadable file
    assert sorted(p.name for p in (inbox / "processed").iterdir()) == ["b-deep.jsonl",
                                                                       "c-good.csv"]
    assert not [p for p in inbox.iterdir() if p.is_file()]

    # the same unreadable file dropped again: the dead letter is not sent twice
    (inbox / "again.csv").write_bytes(huge_field)
    again = run_feed(inbox, connect_topics)
    assert again.returncode == 0, again.stderr
    assert "0 events published, 0 dead letters" in again.stderr
    assert (inbox / "failed" / "again.csv").is_file()
