"""The filters every `backbone dlq` command shares, and the replay rules (pure)."""

from __future__ import annotations

import pytest

from backbone.dead_letters import DeadLetter
from processors.dlq.audit import Ledger, as_ranges, from_ranges
from processors.dlq.dialects import DeadLetterMessage
from processors.dlq.replay import Decision, RateLimit, decide
from processors.dlq.selection import (
    OffsetRange,
    Selection,
    SelectionError,
    parse_categories,
    parse_offsets,
    parse_time,
    stats,
)

NOW = 1_700_000_000_000


def _letter(offset: int = 0, partition: int = 0, **fields: object) -> DeadLetterMessage:
    record: dict[str, object] = dict(stage="processor", owner="shipment-status",
                                     category="UNKNOWN_CODE", message="UPS code 'ZZ' unmapped")
    record.update(fields)
    return DeadLetterMessage(topic="p.dlq.v1", partition=partition, offset=offset,
                             timestamp_ms=NOW, key=b"UPS:1Z0001", value=b"", headers=[],
                             record=DeadLetter(**record))  # type: ignore[arg-type]


def test_relative_and_iso_times() -> None:
    assert parse_time("--since", "2h", NOW) == NOW - 7_200_000
    assert parse_time("--since", "90s", NOW) == NOW - 90_000
    assert parse_time("--since", "2023-11-14T22:13:20Z", 0) == NOW
    assert parse_time("--since", "2023-11-14T22:13:20", 0) == NOW  # UTC when no offset


def test_bad_time_names_option_and_forms() -> None:
    with pytest.raises(SelectionError, match=r"--until 'yesterday'.*ISO-8601.*2h"):
        parse_time("--until", "yesterday", NOW)


def test_offsets() -> None:
    assert parse_offsets("0:10-20,1:5-,7,-3") == (
        OffsetRange(0, 10, 20), OffsetRange(1, 5, None), OffsetRange(None, 7, 7),
        OffsetRange(None, 0, 3))


@pytest.mark.parametrize(("text", "problem"), [
    ("0:x", "item 1"), ("0:1-2,1:9-3", "item 2.*below"), ("a:1", "partition"), ("0:-", "empty"),
])
def test_bad_offsets_name_the_item(text: str, problem: str) -> None:
    with pytest.raises(SelectionError, match=problem):
        parse_offsets(text)


def test_categories_case_insensitive_and_checked() -> None:
    assert parse_categories(["unknown-code", "TRANSIENT,deserialization"]) == {
        "UNKNOWN_CODE", "TRANSIENT", "DESERIALIZATION"}
    with pytest.raises(SelectionError, match="UNKNOWN_CODE"):
        parse_categories(["bogus"])


def test_selection_filters() -> None:
    letter = _letter(offset=15, business_key="UPS:1Z0001", last_failure_ms=NOW - 1000)
    assert Selection().matches(letter)
    assert Selection(owner="shipment-status").matches(letter)
    assert not Selection(owner="order-fulfillment").matches(letter)
    assert Selection(stage="processor").matches(letter)
    assert not Selection(stage="connector").matches(letter)
    assert Selection(error_contains="code 'zz'").matches(letter)
    assert not Selection(error_contains="timed out").matches(letter)
    assert Selection(categories=frozenset({"UNKNOWN_CODE"})).matches(letter)
    assert not Selection(categories=frozenset({"TRANSIENT"})).matches(letter)
    assert Selection(since_ms=NOW - 2000, until_ms=NOW).matches(letter)
    assert not Selection(since_ms=NOW - 500).matches(letter)
    assert Selection(key_contains="1z0001").matches(letter)
    assert not Selection(key_contains="FEDEX").matches(letter)
    assert Selection(offsets=parse_offsets("0:10-20")).matches(letter)
    assert not Selection(offsets=parse_offsets("1:10-20")).matches(letter)


def test_stats_by_category_stage_owner_hour() -> None:
    letters = [_letter(0), _letter(1, category="TRANSIENT"),
               _letter(2, stage="connector", owner="wms-feed", last_failure_ms=NOW + 3_600_000)]
    result = stats(letters).to_json_dict()
    assert result["by_category"] == {"TRANSIENT": 1, "UNKNOWN_CODE": 2}
    assert result["by_stage"] == {"connector": 1, "processor": 2}
    assert result["by_owner"] == {"shipment-status": 2, "wms-feed": 1}
    assert result["by_hour"] == {"2023-11-14T22:00Z": 2, "2023-11-14T23:00Z": 1}


def test_ranges_round_trip() -> None:
    coordinates = [("t", 0, 1), ("t", 0, 2), ("t", 0, 5), ("t", 1, 0)]
    assert as_ranges(coordinates) == {"t": {"0": [[1, 2], [5, 5]], "1": [[0, 0]]}}
    assert sorted(from_ranges(as_ranges(coordinates))) == coordinates
    assert list(from_ranges({"t": {"x": [[1, 2]]}, "u": "junk"})) == []


def test_replay_decisions() -> None:
    ledger = Ledger()
    fresh = _letter(0)
    assert decide(fresh, ledger, max_replays=3, force=False) is Decision.REPLAY
    ledger.add({"action": "replay", "records": as_ranges([("p.dlq.v1", 0, 0)])})
    assert decide(fresh, ledger, 3, force=False) is Decision.ALREADY_REPLAYED
    assert decide(fresh, ledger, 3, force=True) is Decision.REPLAY
    assert decide(_letter(1, replay_count=3), ledger, 3, force=True) is Decision.PARKED
    assert decide(_letter(0, replay_count=2), ledger, 3, force=True) is Decision.PARKED


def test_ledger_ignores_broken_audit_records() -> None:
    ledger = Ledger.from_values([b"not json", None, b"[1, 2]",
                                 b'{"action": "purge", "records": {"t": {"0": [[3, 4]]}}}'])
    assert ledger.purged == {("t", 0, 3), ("t", 0, 4)}


def test_rate_limit_spaces_calls() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    limit = RateLimit(4, clock=lambda: now[0], sleep=sleep)
    for _ in range(5):
        limit.wait()
    assert now[0] == pytest.approx(1.0)
