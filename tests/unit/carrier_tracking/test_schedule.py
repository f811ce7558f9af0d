"""When the poller asks a carrier: intervals by stage, back-off, stop rules, the carrier gate."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

from backbone.events.logistics import Milestone
from connectors.carrier_tracking.poller import retry_after_s
from connectors.carrier_tracking.schedule import (
    CarrierGate,
    Intervals,
    Watch,
    answered,
    discovered,
    failed,
    furthest,
    sighted,
)

NOW = datetime(2026, 12, 4, 12, tzinfo=UTC).timestamp()
INTERVALS = Intervals(in_transit_s=1000, near_delivery_s=100, pre_transit_s=5000,
                      max_age_s=10_000, backoff_max_s=240)


def _gap(watch: Watch) -> float:
    assert watch.last_polled is not None
    return watch.next_due - watch.last_polled


def test_interval_follows_the_stage_with_a_stable_jitter_of_at_most_ten_percent() -> None:
    new = discovered("ups", "1Z1", NOW)
    assert new.due(NOW)
    pre = answered(new, NOW, INTERVALS)
    moving = answered(new, NOW, INTERVALS, milestone=Milestone.IN_TRANSIT)
    near = answered(new, NOW, INTERVALS, milestone=Milestone.OUT_FOR_DELIVERY)
    assert 5000 <= _gap(pre) <= 5500 and 1000 <= _gap(moving) <= 1100
    assert 100 <= _gap(near) <= 110
    assert _gap(answered(new, NOW, INTERVALS, milestone=Milestone.IN_TRANSIT)) == _gap(moving)
    other = answered(discovered("ups", "1Z2", NOW), NOW, INTERVALS, milestone=Milestone.IN_TRANSIT)
    assert _gap(other) != _gap(moving)  # spread: two shipments do not come due together


def test_a_terminal_milestone_or_the_age_limit_stops_polling() -> None:
    new = discovered("fedex", "77", NOW)
    assert answered(new, NOW, INTERVALS, milestone=Milestone.DELIVERED).stopped == "DELIVERED"
    old = answered(new, NOW + 10_001, INTERVALS, milestone=Milestone.IN_TRANSIT)
    assert old.stopped == "max-age" and not old.due(NOW + 10**6)
    assert sighted(new, Milestone.RETURNED).stopped == "RETURNED"
    assert sighted(new, None) == new


def test_failures_back_off_doubling_up_to_the_maximum() -> None:
    watch = discovered("usps", "94", NOW)
    gaps = []
    for _ in range(5):
        watch = failed(watch, NOW, INTERVALS)
        gaps.append(watch.next_due - NOW)
    assert gaps == [30, 60, 120, 240, 240]
    assert answered(watch, NOW, INTERVALS).failures == 0


def test_seen_keys_make_a_repeat_publish_nothing_and_survive_storage() -> None:
    watch = answered(discovered("dhl", "7", NOW), NOW, INTERVALS, published=["a", "b"])
    assert watch.new_keys(["a", "b", "c", "c"]) == ["c"]
    stored = Watch.from_offset(watch.partition, watch.offset())
    assert stored == watch


def test_furthest_milestone() -> None:
    assert furthest([Milestone.IN_TRANSIT, Milestone.OUT_FOR_DELIVERY,
                     Milestone.IN_TRANSIT]) is Milestone.OUT_FOR_DELIVERY
    assert furthest([Milestone.DELIVERED, Milestone.IN_TRANSIT]) is Milestone.DELIVERED
    assert furthest([Milestone.UNKNOWN]) is None


def test_gate_paces_blocks_on_429_and_counts_the_daily_quota() -> None:
    gate = CarrierGate(min_gap_s=2, daily_quota=2)
    assert gate.wait_s(NOW) == 0
    gate.sent(NOW)
    assert gate.wait_s(NOW + 0.5) == 1.5
    gate.rate_limited(NOW, 30)
    assert gate.wait_s(NOW + 10) == 20
    gate.sent(NOW + 31)
    assert gate.wait_s(NOW + 40) is None  # two used today
    assert gate.wait_s(NOW + 86_400) == 0  # a new UTC day


def test_retry_after_in_seconds_or_as_a_date() -> None:
    assert retry_after_s("7", NOW) == 7
    assert retry_after_s(format_datetime(datetime.fromtimestamp(NOW + 90, UTC), usegmt=True),
                         NOW) == 90
    assert retry_after_s(None, NOW) == 60 and retry_after_s("soon", NOW) == 60
