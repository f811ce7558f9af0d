"""WMS feed against the real broker and registry: good rows publish, bad rows dead-letter,
files move after delivery, a file read again publishes nothing new."""

from __future__ import annotations

import hashlib
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
