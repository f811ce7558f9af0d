"""A loss / duplicate / reorder checker in the spirit of Jepsen's Kafka checker.

A workload sends N uniquely numbered inputs through a real entry point while a fault is
injected; afterwards a ``read_committed`` reader collects what came out. Each input is known
by an id (an ``event_id`` or idempotency key), the key it is written under and its number in
that key's order. The checker says which inputs are **lost** (never came out), which came out
more than once (**duplicated**, by id), how many came out **out of order** within their key,
and how long the workload stalled around the fault (**recovery**).
"""

from __future__ import annotations

import itertools
import json
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from confluent_kafka import Consumer, Message

RESULTS = Path(__file__).resolve().parent / "last-run.jsonl"


@dataclass(frozen=True)
class Sent:
    """One input of the workload: its id, the key it goes under and its number in that key."""

    id: str
    key: str
    seq: int


@dataclass
class Report:
    """What the checker found for one fault and workload."""

    fault: str
    workload: str
    sent: int
    received: int
    lost: list[str] = field(default_factory=list)
    duplicated: dict[str, int] = field(default_factory=dict)  # id -> copies beyond the first
    reordered: int = 0
    recovery_s: float | None = None
    note: str = ""
    interleaved: int = 0  # keys of a merging processor whose inputs met in another order


    @property
    def duplicates(self) -> int:
        return sum(self.duplicated.values())

    def summary(self) -> str:
        recovery = "-" if self.recovery_s is None else f"{self.recovery_s:.1f}s"
        return (f"{self.fault} / {self.workload}: sent {self.sent}, received {self.received}, "
                f"lost {len(self.lost)} {self.lost[:5]}, duplicated {self.duplicates} "
                f"{list(self.duplicated)[:5]}, reordered {self.reordered}, recovery {recovery}"
                f"{f', interleaved {self.interleaved} keys' if self.interleaved else ''}"
                f"{f', {self.note}' if self.note else ''}")

    def record(self) -> None:
        """Append to tests/reliability/last-run.jsonl (the README's table comes from it)."""
        row = {**asdict(self), "lost": len(self.lost), "duplicated": self.duplicates,
               "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        with RESULTS.open("a") as out:
            out.write(json.dumps(row) + "\n")


def check(fault: str, workload: str, sent: Sequence[Sent], received_ids: Iterable[str],
          *, recovery_s: float | None = None) -> Report:
    """Compare what was sent with the ids that came out, in the order the reader saw them
    (one partition's order per key: a key lives on one partition)."""
    by_id = {s.id: s for s in sent}
    copies: dict[str, int] = {}
    last_seq: dict[str, int] = {}
    reordered = 0
    received = 0
    for id_ in received_ids:
        received += 1
        copies[id_] = copies.get(id_, 0) + 1
        entry = by_id.get(id_)
        if entry is None or copies[id_] > 1:
            continue  # a stranger, or a duplicate (counted as such, not as reordering)
        if entry.seq < last_seq.get(entry.key, -1):
            reordered += 1
        last_seq[entry.key] = max(entry.seq, last_seq.get(entry.key, -1))
    report = Report(fault, workload, len(sent), received,
                    lost=[s.id for s in sent if s.id not in copies],
                    duplicated={i: n - 1 for i, n in copies.items() if n > 1 and i in by_id},
                    reordered=reordered, recovery_s=recovery_s)
    strangers = [i for i in copies if i not in by_id]
    if strangers:
        report.note = f"{len(strangers)} ids nobody sent, e.g. {strangers[:3]}"
    return report


def longest_stall(times: Sequence[float], since: float) -> float:
    """The longest gap between acknowledgements (monotonic times) from ``since`` on: how long
    the workload could not make progress because of the fault."""
    after = sorted(t for t in times if t >= since)
    if not after:
        return float("inf")
    points = [since, *after]
    return max(b - a for a, b in itertools.pairwise(points))


def read_committed(consumer_config: Mapping[str, object], topics: Sequence[str],
                   identify: Callable[[Message], str | None], *, expect: int,
                   idle_s: float = 3.0, timeout_s: float = 90.0) -> list[str]:
    """Ids of everything committed on ``topics`` from the beginning, in the order read; stops
    once ``expect`` records were read and nothing more came for ``idle_s`` (duplicates after
    the expected count are still collected for that long), or at ``timeout_s``."""
    consumer = Consumer({**consumer_config, "group.id": f"checker-{uuid.uuid4().hex[:8]}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False,
                         "isolation.level": "read_committed"})
    consumer.subscribe(list(topics))
    ids: list[str] = []
    deadline = time.monotonic() + timeout_s
    last = time.monotonic()
    try:
        while time.monotonic() < deadline:
            batch = [m for m in consumer.consume(1000, 0.3) if not m.error()]
            if not batch:
                if len(ids) >= expect and time.monotonic() - last > idle_s:
                    break
                continue
            last = time.monotonic()
            ids.extend(i for i in map(identify, batch) if i is not None)
    finally:
        consumer.close()
    return ids


def header(name: str) -> Callable[[Message], str | None]:
    """An ``identify`` that takes the id from a record header (e.g. ``event_id``)."""

    def identify(message: Message) -> str | None:
        value = dict(message.headers() or []).get(name)
        return None if value is None else value.decode()

    return identify
