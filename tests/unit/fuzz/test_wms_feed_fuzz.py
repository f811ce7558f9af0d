"""WMS feed files, fuzzed: whatever lands in the inbox, the task never raises, every file ends
in processed/ or failed/, and what it publishes is canonical."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from connectors.runner import bounded
from connectors.wms_feed.connector import WmsFeedConnector
from connectors.wms_feed.files import FeedRow, UnreadableFile, read_rows
from connectors.wms_feed.mapping import BadRow, map_row
from tests.unit.fuzz.canonical import assert_published_intact
from tests.unit.fuzz.strategies import inputs

NOW = datetime(2026, 3, 3, tzinfo=UTC)
SAMPLES = Path(__file__).resolve().parents[3] / "connectors" / "wms_feed" / "samples"
SEEDS = {suffix: [p.read_bytes() for p in sorted(SAMPLES.glob(f"*{suffix}"))]
         for suffix in (".csv", ".jsonl")}
SEEDS[".csv"] += [SEEDS[".jsonl"][0]]  # a file in the other format is a mutation too
SEEDS[".jsonl"] += [SEEDS[".csv"][0]]


class NoOffsets:
    def offset(self, connector: str, partition: object) -> None:
        return None


def rows_of(name: str, content: bytes) -> list[FeedRow] | None:
    """The rows, or None for a file refused as a whole; nothing else may come out."""
    try:
        return list(read_rows(name, content))
    except UnreadableFile:
        return None


@given(st.sampled_from((".csv", ".jsonl")).flatmap(
    lambda suffix: st.tuples(st.just(suffix), inputs(SEEDS[suffix]))))
def test_every_row_maps_or_is_a_bad_row_and_what_maps_is_canonical(
        file: tuple[str, bytes]) -> None:
    suffix, content = file
    rows = rows_of(f"feed{suffix}", content)
    for row in rows or []:
        assert (row.fields is None) != (row.problem is None)
        if row.fields is None:
            continue
        try:
            event = map_row(row.fields, instance="wms", source_ref=f"feed{suffix}:{row.row}",
                            recorded_at=NOW)
        except BadRow:
            continue
        assert_published_intact(event)


@given(st.sampled_from((".csv", ".jsonl")).flatmap(
    lambda suffix: st.tuples(st.just(suffix), inputs(SEEDS[suffix]))))
def test_the_task_never_raises_and_every_file_is_moved_on(file: tuple[str, bytes]) -> None:
    suffix, content = file
    with tempfile.TemporaryDirectory() as folder:
        inbox = Path(folder)
        (inbox / f"feed{suffix}").write_bytes(content)
        task = WmsFeedConnector(inbox).task()
        task.start(NoOffsets())
        records = []
        while batch := task.poll(500):
            records += batch
            task.commit(batch)
        assert not (inbox / f"feed{suffix}").exists()
        failed = (inbox / "failed" / f"feed{suffix}").exists()
        assert failed != (inbox / "processed" / f"feed{suffix}").exists()
        if failed:  # one dead letter, the whole file; nothing published
            assert len(records) == 1 and records[0].dead_letter is not None
            assert records[0].dead_letter.value == content
        for record in records:
            if record.dead_letter is not None:
                letter = bounded(record.dead_letter)  # what the runner produces
                assert len(letter.value) <= 900_000 and len(letter.reason) <= 2_100
                assert letter.reason.startswith(f"feed{suffix}")
