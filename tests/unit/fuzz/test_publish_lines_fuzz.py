"""`backbone publish` lines, fuzzed: every line is an event or a bad line with a short
reason (the command reports it by number and goes on), never a traceback."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from backbone.samples import sample
from backbone.topics import CATALOG, for_record
from producers.cli import BAD_LINE, bad_line_reason, event_of_line
from tests.unit.fuzz.canonical import assert_published_intact, serde
from tests.unit.fuzz.strategies import inputs

RECORDS = sorted({entry.record for entry in CATALOG if entry.record})
# what `backbone tail` prints for every canonical event, a few seeds each
LINES = [json.dumps(sample(record, seed=seed).to_json_dict()).encode()
         for record in RECORDS for seed in range(2)]


@given(st.sampled_from(RECORDS), inputs(LINES))
def test_every_line_is_an_event_or_a_bad_line_with_a_short_reason(
        record: str, line: bytes) -> None:
    try:
        event = event_of_line(record, line)
        # what publish does next: the serde may still refuse it (reported the same way)
        serde().serialize(for_record(record), event)
    except BAD_LINE as error:
        reason = bad_line_reason(error)
        assert reason and len(reason) < 2_000
        return
    assert_published_intact(event)

