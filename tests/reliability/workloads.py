"""Workloads of the fault matrix: N uniquely numbered inputs through real entry points."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import timedelta

from backbone.events import Event
from backbone.events.logistics import ShipmentMilestone
from backbone.samples import sample_shipment_milestone
from producers import Delivery, EventPublisher, PublishHooks
from producers.publisher import wait_all
from tests.reliability.checker import Sent


def milestones(keys: int, per_key: int, seed: int = 0) -> tuple[list[ShipmentMilestone],
                                                                  list[Sent]]:
    """``keys`` shipments with ``per_key`` scans each (a minute apart), interleaved by scan;
    every event id fresh, so runs never see each other's records."""
    firsts = [sample_shipment_milestone(seed + k) for k in range(keys)]
    events, sent = [], []
    for scan in range(per_key):
        for first in firsts:
            at = first.event_time + timedelta(minutes=scan)
            event = first.model_copy(update={"event_id": str(uuid.uuid4()), "event_time": at,
                                             "occurred_at": at})
            events.append(event)
            sent.append(Sent(event.event_id, f"{first.carrier}:{first.tracking_number}", scan))
    return events, sent


# The publisher is at least once across leader changes, not exactly once. librdkafka (2.12)
# bumps the idempotent producer's epoch when the requests behind a failed one come back
# OUT_OF_ORDER_SEQUENCE_NUMBER, and sends them again under the new epoch, so an event a broker
# had already stored can be stored twice (librdkafka#4953, fix proposed in #4972; the Java
# client retries those without a bump). Seen once in CI on 2026-12-05, one copy in a rolling
# restart. A copy carries the event's own event_id, so a consumer drops it. What can be sent
# twice is what was in flight at a leader change: at most 5 requests per broker connection
# (max.in.flight) x 3 brokers, about one event each at this workload's pace (<= 100/s, 5 ms
# linger), and a rolling restart moves leadership at most 6 times.
PUBLISHER_DUPLICATE_BOUND = 5 * 3 * 6
PUBLISHER_DUPLICATE_NOTE = (f"at least once across leader changes (librdkafka#4953): "
                            f"duplicates <= {PUBLISHER_DUPLICATE_BOUND}, same event_id")


@dataclass
class Published:
    """What a paced publish saw: acknowledgement times and when the fault began."""

    acked_at: list[float] = field(default_factory=list)
    fault_at: float = 0.0
    fault_done_at: float = 0.0


def publish_under_fault(bootstrap: str, serde: object, events: Sequence[Event],
                        fault: Callable[[], None], *, duration_s: float, at: float = 0.25,
                        flush_timeout_s: float = 180.0) -> Published:
    """Publish ``events`` evenly over ``duration_s`` through ``EventPublisher``; the fault runs
    in a thread once a fraction ``at`` is queued. Every delivery must be acknowledged."""
    seen = Published()
    lock = threading.Lock()

    def delivered(_: Delivery, __: float) -> None:
        with lock:
            seen.acked_at.append(time.monotonic())

    def injected() -> None:
        seen.fault_at = time.monotonic()
        fault()
        seen.fault_done_at = time.monotonic()

    injector = threading.Thread(target=injected, name="fault")
    futures: list[Future[Delivery]] = []
    started = time.monotonic()
    with EventPublisher(bootstrap, serde, hooks=PublishHooks(on_delivered=delivered),  # type: ignore[arg-type]
                        flush_timeout_s=flush_timeout_s) as publisher:
        for n, event in enumerate(events):
            if n == int(len(events) * at):
                injector.start()
            futures.append(publisher.publish(event))
            publisher.poll(0)
            pause = started + duration_s * (n + 1) / len(events) - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        injector.join()
        publisher.flush(flush_timeout_s)
        wait_all(futures)
    return seen
