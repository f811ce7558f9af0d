"""When to ask a carrier about a shipment, and whether a carrier may be asked now. Pure: every
function takes the time it decides for.

A ``Watch`` is one shipment in flight: when it was first seen, when it was last polled and is
next due, the furthest milestone known, and the idempotency keys of the carrier events already
published (so a repeated answer publishes nothing). It is stored as the source offset of the
partition ``{"carrier": ..., "tracking_number": ...}`` in the connectors' compacted offsets
topic, so a restart resumes with the same schedule and the same memory.

Intervals: near delivery (out for delivery, at the delivery location, a failed attempt, at a
pickup point) short; before the first carrier scan (and after "not found") long; in transit in
between. Each next poll is spread by a deterministic jitter of up to 10 % (the same shipment
always gets the same), so shipments discovered together do not come due together. A shipment
stops being polled at a terminal milestone or after the maximum age.

A ``CarrierGate`` paces one carrier: at least ``min_gap_s`` between requests, nothing while a
429's Retry-After runs, nothing once the day's quota is used.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from backbone.events.logistics import Milestone

TERMINAL = frozenset({Milestone.DELIVERED, Milestone.RETURNED, Milestone.CANCELLED,
                      Milestone.LOST})
NEAR_DELIVERY = frozenset({Milestone.OUT_FOR_DELIVERY, Milestone.AT_DELIVERY_LOCATION,
                           Milestone.DELIVERY_ATTEMPTED, Milestone.AVAILABLE_FOR_PICKUP})
# How many published event keys a watch remembers: far more than any shipment's history, and
# the bound keeps one stored offset small.
MAX_SEEN_KEYS = 400
FIRST_BACKOFF_S = 30.0


@dataclass(frozen=True)
class Intervals:
    """Seconds between polls by stage, and when to give up (settings ``tracking_*``)."""

    in_transit_s: float = 14_400.0
    near_delivery_s: float = 1_800.0
    pre_transit_s: float = 21_600.0
    max_age_s: float = 30 * 86_400.0
    backoff_max_s: float = 3_600.0


@dataclass(frozen=True)
class Watch:
    """One shipment the poller follows (see the module docstring)."""

    carrier: str
    tracking_number: str
    first_seen: float
    next_due: float
    last_polled: float | None = None
    milestone: str | None = None
    stopped: str | None = None  # why polling ended: a terminal milestone, "max-age"
    failures: int = 0
    seen: tuple[str, ...] = ()

    @property
    def partition(self) -> dict[str, str]:
        return {"carrier": self.carrier, "tracking_number": self.tracking_number}

    @property
    def key(self) -> str:
        return f"{self.carrier}:{self.tracking_number}"

    def offset(self) -> dict[str, Any]:
        """The stored form (JSON)."""
        return {"first_seen": self.first_seen, "next_due": self.next_due,
                "last_polled": self.last_polled, "milestone": self.milestone,
                "stopped": self.stopped, "failures": self.failures, "seen": list(self.seen)}

    @classmethod
    def from_offset(cls, partition: Mapping[str, str], offset: Mapping[str, Any]) -> Watch:
        return cls(carrier=str(partition["carrier"]),
                   tracking_number=str(partition["tracking_number"]),
                   first_seen=float(offset["first_seen"]), next_due=float(offset["next_due"]),
                   last_polled=_float(offset.get("last_polled")),
                   milestone=offset.get("milestone"), stopped=offset.get("stopped"),
                   failures=int(offset.get("failures") or 0),
                   seen=tuple(str(k) for k in offset.get("seen") or ()))

    def due(self, now: float) -> bool:
        return self.stopped is None and self.next_due <= now

    def new_keys(self, keys: Iterable[str]) -> list[str]:
        """``keys`` not published yet, each once, in order."""
        known = set(self.seen)
        fresh: list[str] = []
        for key in keys:
            if key not in known:
                known.add(key)
                fresh.append(key)
        return fresh


def discovered(carrier: str, tracking_number: str, now: float) -> Watch:
    """A shipment seen for the first time: due at once."""
    return Watch(carrier, tracking_number, first_seen=now, next_due=now)


def sighted(watch: Watch, milestone: Milestone | None) -> Watch:
    """What another source (a ShipmentStatus, a milestone from a webhook) says of a watch."""
    if milestone is None or watch.stopped is not None:
        return watch
    if milestone in TERMINAL:
        return replace(watch, milestone=milestone.value, stopped=milestone.value)
    return replace(watch, milestone=milestone.value)


def answered(watch: Watch, now: float, intervals: Intervals, *, published: Iterable[str] = (),
             milestone: Milestone | None = None, not_found: bool = False) -> Watch:
    """After a usable answer (or a not-found one): remember the keys, schedule the next poll."""
    seen = (*watch.seen, *published)[-MAX_SEEN_KEYS:]
    furthest = milestone.value if milestone is not None else watch.milestone
    stopped = milestone.value if milestone in TERMINAL else None
    if stopped is None and now - watch.first_seen >= intervals.max_age_s:
        stopped = "max-age"
    interval = _interval(furthest, intervals, not_found)
    return replace(watch, seen=seen, milestone=furthest, stopped=stopped, failures=0,
                   last_polled=now, next_due=now + interval * (1 + _jitter(watch.key)))


def failed(watch: Watch, now: float, intervals: Intervals) -> Watch:
    """After a 5xx or a network error: back off, doubling from FIRST_BACKOFF_S."""
    delay = min(intervals.backoff_max_s, FIRST_BACKOFF_S * 2 ** watch.failures)
    stopped = "max-age" if now - watch.first_seen >= intervals.max_age_s else None
    return replace(watch, failures=watch.failures + 1, last_polled=now, next_due=now + delay,
                   stopped=stopped)


def _interval(milestone: str | None, intervals: Intervals, not_found: bool) -> float:
    if not_found or milestone in (None, Milestone.PRE_TRANSIT.value, Milestone.UNKNOWN.value):
        return intervals.pre_transit_s
    if milestone in {m.value for m in NEAR_DELIVERY}:
        return intervals.near_delivery_s
    return intervals.in_transit_s


def _jitter(key: str) -> float:
    """0 to 0.1, the same for the same shipment (spreads a batch discovered together)."""
    return hashlib.sha256(key.encode()).digest()[0] / 255 * 0.1


def furthest(milestones: Iterable[Milestone]) -> Milestone | None:
    """The milestone the shipment has reached: a terminal one wins, else the highest rank."""
    ranked = [m for m in milestones if m is not Milestone.UNKNOWN]
    terminal = [m for m in ranked if m in TERMINAL]
    if terminal:
        return terminal[-1]
    return max(ranked, key=lambda m: RANK.get(m, 0), default=None)


RANK = {Milestone.PRE_TRANSIT: 10, Milestone.PICKED_UP: 20, Milestone.IN_TRANSIT: 30,
        Milestone.RETURN_TO_SENDER: 30, Milestone.AVAILABLE_FOR_PICKUP: 35,
        Milestone.DELIVERY_ATTEMPTED: 38, Milestone.OUT_FOR_DELIVERY: 40,
        Milestone.AT_DELIVERY_LOCATION: 45, Milestone.PARTIALLY_DELIVERED: 48}


@dataclass
class CarrierGate:
    """Pacing, 429 blocks and the daily quota of one carrier."""

    min_gap_s: float = 0.2
    daily_quota: int | None = None
    blocked_until: float = 0.0
    last_request: float = float("-inf")
    day: str = ""
    used_today: int = 0

    def wait_s(self, now: float) -> float | None:
        """Seconds until a request may go (0: now); None when the day's quota is used up."""
        if self.daily_quota is not None and self.used(now) >= self.daily_quota:
            return None
        return max(0.0, self.blocked_until - now, self.last_request + self.min_gap_s - now)

    def used(self, now: float) -> int:
        if _day(now) != self.day:
            self.day, self.used_today = _day(now), 0
        return self.used_today

    def sent(self, now: float) -> None:
        self.used(now)
        self.used_today += 1
        self.last_request = now

    def rate_limited(self, now: float, retry_after_s: float) -> None:
        self.blocked_until = max(self.blocked_until, now + retry_after_s)


def _day(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d")


def _float(value: Any) -> float | None:
    return float(value) if value is not None else None
