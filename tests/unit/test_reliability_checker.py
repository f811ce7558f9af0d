"""The reliability checker itself: it must see loss, duplicates and reordering when they
happen (a checker that cannot fail proves nothing)."""

from __future__ import annotations

from tests.reliability.checker import Sent, check, longest_stall

SENT = [Sent(f"e{n}", f"k{n % 2}", n // 2) for n in range(6)]  # k0: e0 e2 e4, k1: e1 e3 e5


def test_a_clean_run_reports_nothing() -> None:
    report = check("none", "unit", SENT, ["e0", "e1", "e2", "e3", "e4", "e5"])
    assert (report.lost, report.duplicates, report.reordered) == ([], 0, 0)


def test_interleaved_keys_are_not_reordering() -> None:
    assert check("none", "unit", SENT, ["e1", "e3", "e0", "e5", "e2", "e4"]).reordered == 0


def test_loss_duplicates_and_reordering_are_each_counted() -> None:
    report = check("fault", "unit", SENT, ["e0", "e4", "e2", "e1", "e1", "e1", "e5", "x9"])
    assert report.lost == ["e3"]
    assert report.duplicated == {"e1": 2} and report.duplicates == 2
    assert report.reordered == 1  # e2 after e4 in k0
    assert report.received == 8 and "x9" in report.note
    assert "lost 1" in report.summary()


def test_a_redelivered_old_record_is_a_duplicate_not_a_reordering() -> None:
    report = check("fault", "unit", SENT, ["e0", "e2", "e0", "e4", "e1", "e3", "e5"])
    assert (report.duplicates, report.reordered) == (1, 0)


def test_longest_stall_is_the_biggest_gap_after_the_fault() -> None:
    assert longest_stall([1.0, 2.0, 2.5, 7.5, 8.0], since=2.2) == 5.0
    assert longest_stall([1.0], since=2.0) == float("inf")
