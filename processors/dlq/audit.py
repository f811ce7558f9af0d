"""The replay audit trail: one JSON event per replay or purge, and the ledger read back from it.

Every ``backbone dlq replay`` (also an interrupted one) and every ``purge`` writes one event to
``backbone.replay-audit.v1``: who (``BACKBONE_OPERATOR``, else the OS user) and where, when,
the filters, the counts, the replay id, and the exact dead-letter coordinates it replayed,
parked or purged, as offset ranges per topic and partition. Reading the topic back gives the
**ledger**: which dead letters were already replayed (skipped unless ``--force``), how many times
(the loop guard), and which were purged (hidden from list, stats and replay; Kafka cannot delete
single records, so purge marks them, and retention removes the bytes later).
"""

from __future__ import annotations

import getpass
import json
import socket
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Producer

from processors.dlq.selection import iso

AUDIT_TOPIC = "backbone.replay-audit.v1"

Coordinates = tuple[str, int, int]  # dead-letter topic, partition, offset
RangeMap = dict[str, dict[str, list[list[int]]]]  # topic -> partition -> [[first, last], ...]


def operator(configured: str | None) -> str:
    """Who is acting: the configured operator, else the OS user."""
    if configured:
        return configured
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def as_ranges(coordinates: Iterable[Coordinates]) -> RangeMap:
    """Coordinates folded into inclusive offset ranges per topic and partition."""
    by_partition: dict[tuple[str, int], list[int]] = {}
    for topic, partition, offset in coordinates:
        by_partition.setdefault((topic, partition), []).append(offset)
    result: RangeMap = {}
    for (topic, partition), offsets in sorted(by_partition.items()):
        ranges: list[list[int]] = []
        for offset in sorted(set(offsets)):
            if ranges and offset == ranges[-1][1] + 1:
                ranges[-1][1] = offset
            else:
                ranges.append([offset, offset])
        result.setdefault(topic, {})[str(partition)] = ranges
    return result


def from_ranges(ranges: Any) -> Iterable[Coordinates]:
    """The coordinates a RangeMap stands for; malformed parts are skipped."""
    if not isinstance(ranges, dict):
        return
    for topic, partitions in ranges.items():
        if not isinstance(partitions, dict):
            continue
        for partition, spans in partitions.items():
            try:
                number = int(partition)
                for first, last in spans:
                    for offset in range(int(first), int(last) + 1):
                        yield (str(topic), number, offset)
            except (TypeError, ValueError):
                continue


def audit_event(
    *,
    action: str,
    replay_id: str,
    who: str,
    at_ms: int,
    status: str,
    processor: str | None,
    source_topics: list[str],
    target_topic: str | None,
    filters: dict[str, Any],
    counts: dict[str, int],
    done: Iterable[Coordinates],
    parked: Iterable[Coordinates] = (),
    force: bool = False,
    reason: str | None = None,
) -> dict[str, Any]:
    """The audit event of one replay or purge."""
    return {
        "action": action,
        "replay_id": replay_id,
        "operator": who,
        "host": socket.gethostname(),
        "at": iso(at_ms),
        "at_ms": at_ms,
        "status": status,
        "processor": processor,
        "source_topics": source_topics,
        "target_topic": target_topic,
        "filters": filters,
        "force": force,
        "reason": reason,
        "counts": counts,
        "records": as_ranges(done),
        "parked": as_ranges(parked),
    }


def publish(producer: Producer, topic: str, event: dict[str, Any], timeout_s: float = 30.0) -> None:
    """Write ``event`` and wait until Kafka acknowledged it (RuntimeError otherwise)."""
    failures: list[str] = []

    def delivered(error: Any, _message: Any) -> None:
        if error is not None:
            failures.append(str(error))

    producer.produce(topic, key=event["replay_id"].encode(),
                     value=json.dumps(event, sort_keys=True).encode(), on_delivery=delivered)
    remaining = producer.flush(timeout_s)
    if failures or remaining:
        raise RuntimeError(
            f"the audit event for {event['action']} {event['replay_id']} was not written to "
            f"{topic}: {'; '.join(failures) or 'no acknowledgement in time'}"
        )


@dataclass
class Ledger:
    """What earlier replays and purges did, from the audit topic."""

    replayed: Counter[Coordinates] = field(default_factory=Counter)
    purged: set[Coordinates] = field(default_factory=set)
    events: list[dict[str, Any]] = field(default_factory=list)

    def add(self, event: Any) -> None:
        if not isinstance(event, dict):
            return
        self.events.append(event)
        coordinates = list(from_ranges(event.get("records")))
        if event.get("action") == "replay":
            self.replayed.update(coordinates)
        elif event.get("action") == "purge":
            self.purged.update(coordinates)

    @classmethod
    def from_values(cls, values: Iterable[bytes | None]) -> Ledger:
        ledger = cls()
        for value in values:
            try:
                ledger.add(json.loads(value or b""))
            except (ValueError, UnicodeDecodeError):
                continue  # a foreign or broken audit record hides nothing
        return ledger
