"""The tracking poller: ask each carrier about the shipments in flight and publish what is new.

A round:

1. read the discovery topics to their end (discovery.py): new shipments become watches, and a
   terminal milestone seen elsewhere (a webhook, the normalizer) stops a watch;
2. for each watch that is due, oldest first, wait for its carrier's gate (pacing, Retry-After,
   daily quota; schedule.py) and ask the carrier's API (clients.py);
3. parse the answer with the same code as the webhooks and ``backbone carriers parse``
   (connectors/carriers), publish the events whose idempotency key the watch has not published
   yet, wait for Kafka, then store the watch (and the discovery positions) in the offsets topic.

Outcomes of one request: events (new ones published), no-news (a repeat: nothing published),
not-found (the carrier's own "not found" answer; carrier-error for its other error answers: both
asked again at the pre-transit interval),
malformed (not the format expected, or no usable event: a dead letter carrying the body, naming
carrier and tracking number), rate-limited (429: the carrier's gate closes for Retry-After and
the shipment is asked again once it opens), server-error / network (the shipment backs off,
doubling), token-refused (the carrier's credentials are wrong: logged, that carrier skipped
for the round).

Publishing comes before storing, so a crash in between publishes the same events again on
restart, with the same idempotency keys (at least once, like every connector).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

from confluent_kafka import KafkaError, Message, Producer

from backbone.errors import Category, PublishError, UnknownCodeError
from backbone.events.logistics import Milestone, ShipmentMilestone
from backbone.topics import Topic
from connectors.api import DeadLetter, SourceRecord
from connectors.carrier_tracking.clients import Answer, CarrierApi, TrackingApiError
from connectors.carrier_tracking.discovery import Discovery
from connectors.carrier_tracking.metrics import TrackingMetrics
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
from connectors.carriers import CarrierResponseError, MalformedResponseError, parse
from connectors.runner import bounded, dead_letter_headers
from processors.shipment_status import StatusMappings
from producers.publisher import Delivery, wait_all

NAME = "carrier-tracking"
DEFAULT_RETRY_AFTER_S = 60.0
# A 429 more often than this within one round for one shipment: leave it to the next round.
MAX_TRIES_PER_ROUND = 3
# A carrier gate closed longer than this (a long Retry-After) is not waited for inside a round:
# its shipments stay due and the other carriers go on; the loop wakes when it opens.
MAX_INLINE_WAIT_S = 5.0

log = logging.getLogger(__name__)


class Publisher(Protocol):
    """What the poller needs of producers.EventPublisher."""

    def publish(self, event: ShipmentMilestone, *,
                topic: Topic | None = None) -> Future[Delivery]: ...

    def flush(self, timeout_s: float | None = None) -> None: ...


class Store(Protocol):
    """What the poller needs of connectors.offsets.KafkaOffsetStore."""

    def stored(self, connector: str) -> list[tuple[dict[str, Any], Mapping[str, Any]]]: ...

    def commit(self, connector: str, offsets: Any) -> None: ...


@dataclass
class RoundSummary:
    requests: int = 0
    published: int = 0
    dead_letters: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)

    def count(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1

    def line(self) -> str:
        detail = ", ".join(f"{n} {o}" for o, n in sorted(self.outcomes.items()))
        return (f"{NAME}: {self.requests} requests ({detail or 'none'}), {self.published} "
                f"events published, {self.dead_letters} dead letters")


class TrackingPoller:
    """Polls carriers for the watched shipments; ``run(once=...)``, ``stop()``."""

    def __init__(self, *, apis: Mapping[str, CarrierApi], publisher: Publisher, store: Store,
                 dead_letters: Producer, dead_letter_topic: str, discovery: Discovery | None,
                 mappings: StatusMappings, intervals: Intervals,
                 gates: Mapping[str, CarrierGate], milestone_topic: Topic | None = None,
                 metrics: TrackingMetrics | None = None,
                 clock: Callable[[], float] = time.time, flush_timeout_s: float = 30.0) -> None:
        self.apis = apis
        self.publisher = publisher
        self.store = store
        self.dead_letters = dead_letters
        self.dead_letter_topic = dead_letter_topic
        self.discovery = discovery
        self.mappings = mappings
        self.intervals = intervals
        self.gates = dict(gates)
        self.milestone_topic = milestone_topic
        self.metrics = metrics or TrackingMetrics()
        self.clock = clock
        self.flush_timeout_s = flush_timeout_s
        self.stopping = threading.Event()
        self.watches: dict[str, Watch] = {}
        self._loaded = False

    # --- the loop -------------------------------------------------------------------------

    def run(self, *, once: bool = False, idle_wait_s: float = 5.0) -> RoundSummary:
        """Rounds until stopped (``once``: one round, every due shipment asked once)."""
        try:
            return self._rounds(once, idle_wait_s)
        finally:
            if self.discovery is not None:
                self.discovery.close()

    def _rounds(self, once: bool, idle_wait_s: float) -> RoundSummary:
        total = RoundSummary()
        while not self.stopping.is_set():
            summary = self.round()
            total.requests += summary.requests
            total.published += summary.published
            total.dead_letters += summary.dead_letters
            for outcome, n in summary.outcomes.items():
                total.outcomes[outcome] = total.outcomes.get(outcome, 0) + n
            if once:
                break
            self.stopping.wait(min(idle_wait_s, max(0.0, self._next_wake() - self.clock())))
        return total

    def stop(self) -> None:
        self.stopping.set()

    def load(self) -> None:
        """The watches and discovery positions stored by earlier runs."""
        positions = []
        for partition, offset in self.store.stored(NAME):
            if "tracking_number" in partition:
                watch = Watch.from_offset(partition, offset)
                self.watches[watch.key] = watch
            elif "topic" in partition:
                positions.append((partition, dict(offset)))
            elif "quota" in partition:
                gate = self.gates.get(str(partition["quota"]))
                if gate is not None:
                    gate.day, gate.used_today = str(offset["day"]), int(offset["used"])
        if self.discovery is not None:
            self.discovery.resume(positions)
        self._loaded = True

    def round(self) -> RoundSummary:
        if not self._loaded:
            self.load()
        summary = RoundSummary()
        self._discover()
        queue = sorted((w for w in self.watches.values() if w.due(self.clock())),
                       key=lambda w: w.next_due)
        tries: dict[str, int] = {}
        refused: set[str] = set()
        while queue and not self.stopping.is_set():
            watch = queue.pop(0)
            api = self.apis.get(watch.carrier)
            if api is None or watch.carrier in refused:
                continue
            if not self._wait_for_gate(watch.carrier):
                continue  # quota used up, or closed for long: a later round
            outcome = self._poll(watch, api, summary)
            summary.requests += 1
            summary.count(outcome)
            self.metrics.requests.labels(watch.carrier, outcome).inc()
            if outcome == "rate-limited":
                tries[watch.key] = tries.get(watch.key, 0) + 1
                if tries[watch.key] < MAX_TRIES_PER_ROUND:
                    queue.insert(0, self.watches[watch.key])
            elif outcome == "token-refused":
                refused.add(watch.carrier)
        self._observe()
        return summary

    # --- one shipment ---------------------------------------------------------------------

    def _poll(self, watch: Watch, api: CarrierApi, summary: RoundSummary) -> str:
        now = self.clock()
        self.gates[watch.carrier].sent(now)
        try:
            answer = api.track(watch.tracking_number)
        except TrackingApiError as error:
            log.warning("%s", error)
            if "token request refused" in str(error):
                return "token-refused"
            self._store(failed(watch, now, self.intervals))
            return "network"
        if answer.status == 429:
            wait = retry_after_s(answer.retry_after, now)
            self.gates[watch.carrier].rate_limited(now, wait)
            self.metrics.rate_limit_waits.labels(watch.carrier).inc()
            log.info("%s answered 429 for %s; waiting %.0fs", watch.carrier, watch.key, wait)
            return "rate-limited"
        if answer.status >= 500:
            self._store(failed(watch, now, self.intervals))
            return "server-error"
        name = f"{watch.carrier} tracking {watch.tracking_number} (HTTP {answer.status})"
        try:
            parsed = parse(watch.carrier, answer.body, name=name,
                           recorded_at=datetime.fromtimestamp(now, UTC),
                           tracking_number=watch.tracking_number)
        except MalformedResponseError as error:
            self._dead_letter(watch, answer, str(error))
            summary.dead_letters += 1
            self._store(answered(watch, now, self.intervals))
            return "malformed"
        except CarrierResponseError as error:
            log.info("%s", error)
            self._store(answered(watch, now, self.intervals, not_found=True))
            # 200 and 404 carry "not found (yet)"; other statuses an error of the request
            return "not-found" if answer.status in (200, 404) else "carrier-error"
        if not parsed.events and parsed.rejections:
            problems = "; ".join(f"{r.position}: {r.problem}" for r in parsed.rejections[:3])
            self._dead_letter(watch, answer, f"{name}: no usable tracking event ({problems})")
            summary.dead_letters += 1
            self._store(answered(watch, now, self.intervals))
            return "malformed"
        new = set(watch.new_keys(e.idempotency_key for e in parsed.events))
        fresh = _unique(e for e in parsed.events if e.idempotency_key in new)
        self._publish(fresh)
        summary.published += len(fresh)
        self.metrics.events.labels(watch.carrier).inc(len(fresh))
        reached = furthest(m for m in (self._milestone(e) for e in parsed.events) if m)
        self._store(answered(watch, now, self.intervals,
                             published=[e.idempotency_key for e in fresh], milestone=reached))
        return "events" if fresh else "no-news"

    def _milestone(self, event: ShipmentMilestone) -> Milestone | None:
        try:
            return self.mappings.resolve(event.raw_status).milestone
        except UnknownCodeError:
            return None

    # --- Kafka ----------------------------------------------------------------------------

    def _publish(self, events: list[ShipmentMilestone]) -> None:
        if not events:
            return
        futures: list[Future[Delivery]] = [
            self.publisher.publish(e, topic=self.milestone_topic) for e in events]
        self.publisher.flush()
        wait_all(futures)

    def _store(self, watch: Watch) -> None:
        self.watches[watch.key] = watch
        gate = self.gates.get(watch.carrier)
        offsets: list[tuple[Mapping[str, Any], Mapping[str, Any]]] = [
            (watch.partition, watch.offset())]
        if gate is not None and gate.daily_quota is not None:
            offsets.append(({"quota": watch.carrier}, {"day": gate.day,
                                                       "used": gate.used_today}))
        self.store.commit(NAME, offsets)

    def _dead_letter(self, watch: Watch, answer: Answer, reason: str) -> None:
        failures: list[str] = []

        def on_delivery(error: KafkaError | None, _message: Message) -> None:
            if error is not None:
                failures.append(error.str())

        letter = bounded(DeadLetter(
            reason, Category.DESERIALIZATION, watch.key, answer.body,
            {"carrier": watch.carrier, "tracking_number": watch.tracking_number,
             "http_status": str(answer.status), "url": answer.url}))
        record = SourceRecord(watch.partition, watch.offset(), dead_letter=letter)
        log.warning("%s: dead letter: %s", NAME, letter.reason)
        self.dead_letters.produce(self.dead_letter_topic, key=watch.key, value=letter.value,
                                  headers=dead_letter_headers(NAME, record),
                                  on_delivery=on_delivery)
        if self.dead_letters.flush(self.flush_timeout_s) or failures:
            raise PublishError(f"dead letter for {watch.key} not acknowledged by Kafka: "
                               + ("; ".join(failures) or "no delivery report"))

    # --- discovery, gates, metrics -------------------------------------------------------

    def _discover(self) -> None:
        if self.discovery is None:
            return
        now = self.clock()
        changed: dict[str, Watch] = {}
        for seen in self.discovery.read():
            key = f"{seen.carrier}:{seen.tracking_number}"
            watch = changed.get(key) or self.watches.get(key) or discovered(
                seen.carrier, seen.tracking_number, now)
            updated = sighted(watch, seen.milestone)
            if updated != self.watches.get(key):
                changed[key] = updated
        self.watches.update(changed)
        offsets: list[tuple[Mapping[str, Any], Mapping[str, Any]]] = [
            (w.partition, w.offset()) for w in changed.values()]
        offsets += self.discovery.stored_positions()
        if offsets:
            self.store.commit(NAME, offsets)

    def _wait_for_gate(self, carrier: str) -> bool:
        gate = self.gates.setdefault(carrier, CarrierGate())
        while not self.stopping.is_set():
            wait = gate.wait_s(self.clock())
            if wait is None:
                self.metrics.rate_limit_waits.labels(carrier).inc()
                return False
            if wait <= 0:
                return True
            if wait > MAX_INLINE_WAIT_S:
                return False
            self.metrics.rate_limit_wait_seconds.labels(carrier).inc(wait)
            self.stopping.wait(wait)
        return False

    def _observe(self) -> None:
        now = self.clock()
        live = [w for w in self.watches.values() if w.stopped is None]
        self.metrics.in_flight.set(len(live))
        late = [now - w.next_due for w in live if w.due(now)]
        self.metrics.oldest_unpolled.set(max(late, default=0.0))

    def _next_wake(self) -> float:
        """When a shipment can next be asked: due, and its carrier's gate open."""
        now = self.clock()
        times = []
        for watch in self.watches.values():
            if watch.stopped is not None or watch.carrier not in self.apis:
                continue  # a carrier without credentials is never asked: no reason to wake
            gate = self.gates.get(watch.carrier)
            opens = now if gate is None else (
                _next_utc_midnight(now) if gate.wait_s(now) is None else gate.blocked_until)
            times.append(max(watch.next_due, opens))
        return min(times, default=now + 3600)


def _next_utc_midnight(now: float) -> float:
    return (now // 86_400 + 1) * 86_400


def retry_after_s(value: str | None, now: float) -> float:
    """Seconds a Retry-After header asks for (delta-seconds or an HTTP date)."""
    if not value:
        return DEFAULT_RETRY_AFTER_S
    text = value.strip()
    if text.isdigit():
        return min(float(text), 86_400.0)
    try:
        return max(0.0, parsedate_to_datetime(text).timestamp() - now)
    except (TypeError, ValueError):
        return DEFAULT_RETRY_AFTER_S


def _unique(events: Iterable[ShipmentMilestone]) -> list[ShipmentMilestone]:
    seen: set[str] = set()
    kept: list[ShipmentMilestone] = []
    for event in events:
        if event.idempotency_key not in seen:
            seen.add(event.idempotency_key)
            kept.append(event)
    return kept
