"""Governed replay: dead letters back to the owning processor's retry topic, once, and audited.

Rules, in the order they are applied to each selected dead letter:

1. purged (audit ledger) -> not even selected;
2. replayed before (audit ledger, or a crashed run found through the checkpoint) -> skipped,
   unless ``--force``;
3. loop guard: replayed ``max_replays`` times already (its ``backbone.dlq.replay.count`` header,
   carried through every failure of a replayed record, plus ledger replays of this very dead
   letter) -> parked: left where it is and counted, never replayed again by this tool;
4. otherwise produced to ``<processor>.retry.v1`` -- never to the shared source topic, which would
   redeliver to every other consumer group -- with the original key and value bytes, the
   record's own headers (foreign dead-letter headers dropped, a child ``traceparent`` so the
   replay is a new span of the same trace), its original coordinates, a replay id, the replay
   count and ``backbone.dlq.replay.of`` = the dead letter's coordinates.

Checkpoint (resumable after Ctrl-C or a crash): after Kafka acknowledges each replayed record,
the consumer group ``backbone-dlq-replay-<processor>`` commits, for that dead-letter partition,
the next offset, with ``<replay id>;<start ms>`` as commit metadata. Ctrl-C stops producing,
waits for acknowledgements and writes the audit event with status ``interrupted`` listing
exactly what was replayed; re-running the same command continues with the rest. After a hard
kill (no audit event for the checkpoint's replay id), the next run reads the retry topic from
the crashed run's start time and treats every record carrying that replay id as replayed.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from confluent_kafka import Consumer, Producer, TopicPartition

from backbone.errors import BackboneError, categorize
from backbone.headers import TRACEPARENT, child_traceparent
from backbone.serde import AvroSerde
from backbone.settings import Settings
from processors import dead_letters as dl
from processors.api import ProcessorSpec, ProcessorTopics, check
from processors.dlq.audit import Coordinates, Ledger
from processors.dlq.reading import read_topics

FOREIGN_PREFIXES = ("__connect.errors.", "kafka_dlt-", "x-original-", "x-exception-",
                    "__streams.errors.", "retry_topic-")


class Decision(StrEnum):
    REPLAY = "replay"
    ALREADY_REPLAYED = "already-replayed"
    PARKED = "parked"


def checkpoint_group(processor: str) -> str:
    return f"backbone-dlq-replay-{processor}"


def times_replayed(letter: dl.DeadLetter, ledger: Ledger) -> int:
    return letter.replay_count + ledger.replayed[_where(letter)]


def _where(letter: dl.DeadLetter) -> Coordinates:
    return (letter.topic, letter.partition, letter.offset)


def decide(letter: dl.DeadLetter, ledger: Ledger, max_replays: int, force: bool) -> Decision:
    if times_replayed(letter, ledger) >= max_replays:
        return Decision.PARKED
    if ledger.replayed[_where(letter)] and not force:
        return Decision.ALREADY_REPLAYED
    return Decision.REPLAY


def replay_headers(letter: dl.DeadLetter, replay_id: str, replay_count: int) -> dl.Headers:
    """Headers of the replayed copy of ``letter`` (see the module docstring, rule 4)."""
    kept = [
        (name, value if value is not None else b"")
        for name, value in dl.own_headers(letter.headers)
        if not name.startswith(FOREIGN_PREFIXES) and name != TRACEPARENT
    ]
    parent = next((v for n, v in reversed(letter.headers) if n == TRACEPARENT and v), None)
    kept.append((TRACEPARENT, child_traceparent(
        parent.decode("ascii", errors="replace") if parent else None).encode()))
    added = {
        dl.ORIGINAL_TOPIC: letter.original_topic,
        dl.ORIGINAL_PARTITION: _text(letter.original_partition),
        dl.ORIGINAL_OFFSET: _text(letter.original_offset),
        dl.ORIGINAL_TIMESTAMP: _text(letter.original_timestamp_ms),
        dl.FIRST_FAILURE: _text(letter.first_failure_ms or letter.last_failure_ms),
        dl.BUSINESS_KEY: letter.business_key,
        dl.CORRELATION: letter.correlation_id,
        dl.REPLAY_ID: replay_id,
        dl.REPLAY_COUNT: str(replay_count),
        dl.REPLAY_OF: letter.coordinates,
        dl.RETRY_ATTEMPT_HEADER: "0",
    }
    return kept + [(name, text.encode()) for name, text in added.items() if text is not None]


def _text(value: int | None) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True)
class Prediction:
    letter: dl.DeadLetter
    succeeds: bool
    reason: str = ""

    @property
    def verdict(self) -> str:
        return "would succeed" if self.succeeds else f"still fails: {self.reason}"


def predict(
    letters: Iterable[dl.DeadLetter], spec: ProcessorSpec, serde: AvroSerde,
    topics: ProcessorTopics, settings: Settings,
) -> list[Prediction]:
    """Run each dead letter through the processor's current check, with the settings
    ``backbone process`` runs with; nothing is produced."""
    result = []
    for letter in letters:
        if not letter.original_topic:
            result.append(Prediction(letter, False, "no original topic in its headers"))
            continue
        try:
            check(spec, letter.original_topic, letter.value, serde, settings, topics=topics)
        except BackboneError as error:
            result.append(Prediction(letter, False, f"{categorize(error).value}: {error}"))
        except Exception as error:  # the check is the processor's code; report, don't crash
            result.append(Prediction(letter, False, f"UNEXPECTED: {type(error).__name__}: "
                                                    f"{dl.redact(str(error))}"))
        else:
            result.append(Prediction(letter, True))
    return result


@dataclass
class ReplayOutcome:
    replay_id: str
    replayed: list[Coordinates] = field(default_factory=list)
    already: list[Coordinates] = field(default_factory=list)
    parked: list[Coordinates] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    interrupted: bool = False

    def counts(self, selected: int) -> dict[str, int]:
        return {
            "selected": selected,
            "replayed": len(self.replayed),
            "skipped_already_replayed": len(self.already),
            "parked": len(self.parked),
            "failed": len(self.failed),
        }


class RateLimit:
    """At most ``per_second`` calls of :meth:`wait` per second (0: unlimited)."""

    def __init__(self, per_second: float, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._interval = 1.0 / per_second if per_second > 0 else 0.0
        self._clock, self._sleep = clock, sleep
        self._next = clock()

    def wait(self) -> None:
        if not self._interval:
            return
        now = self._clock()
        if self._next > now:
            self._sleep(self._next - now)
        self._next = max(self._next, now) + self._interval


def replay(
    letters: Sequence[dl.DeadLetter],
    *,
    ledger: Ledger,
    producer: Producer,
    checkpoint: Consumer,
    target_topic: str,
    max_replays: int,
    force: bool,
    rate: float,
    started_ms: int,
    replay_id: str | None = None,
    advance: Callable[[], None] = lambda: None,
    commit_every_s: float = 0.2,
) -> ReplayOutcome:
    """Produce the replayable ``letters`` to ``target_topic``; Ctrl-C ends it cleanly."""
    outcome = ReplayOutcome(replay_id or f"replay-{uuid.uuid4().hex[:12]}")
    metadata = f"{outcome.replay_id};{started_ms}"
    acked: dict[tuple[str, int], int] = {}
    last_commit = [time.monotonic()]

    def commit(asynchronous: bool) -> None:
        if acked:
            checkpoint.commit(offsets=[
                TopicPartition(topic, partition, offset + 1, metadata)
                for (topic, partition), offset in acked.items()
            ], asynchronous=asynchronous)
        last_commit[0] = time.monotonic()

    def delivered(letter: dl.DeadLetter) -> Callable[[object, object], None]:
        def on_delivery(error: object, _message: object) -> None:
            if error is not None:
                outcome.failed.append(f"{letter.coordinates}: {error}")
                return
            outcome.replayed.append(_where(letter))
            where = (letter.topic, letter.partition)
            acked[where] = max(acked.get(where, -1), letter.offset)
        return on_delivery

    limit = RateLimit(rate)
    try:
        for letter in letters:
            decision = decide(letter, ledger, max_replays, force)
            if decision is Decision.PARKED:
                outcome.parked.append(_where(letter))
            elif decision is Decision.ALREADY_REPLAYED:
                outcome.already.append(_where(letter))
            else:
                limit.wait()
                headers = replay_headers(letter, outcome.replay_id,
                                         times_replayed(letter, ledger) + 1)
                _produce(producer, target_topic, letter, headers, delivered(letter))
                producer.poll(0)
                if time.monotonic() - last_commit[0] > commit_every_s:
                    commit(asynchronous=True)
            advance()
    except KeyboardInterrupt:
        outcome.interrupted = True
    finally:
        producer.flush(60)
        commit(asynchronous=False)
    return outcome


def _produce(producer: Producer, topic: str, letter: dl.DeadLetter, headers: dl.Headers,
             on_delivery: Callable[[object, object], None]) -> None:
    while True:
        try:
            producer.produce(topic, key=letter.key, value=letter.value, headers=headers,
                             on_delivery=on_delivery)
            return
        except BufferError:  # local queue full: let deliveries drain, then try again
            producer.poll(0.1)


def crashed_run_replays(
    checkpoint: Consumer, ledger: Ledger, dlq_topics: Sequence[str], partitions: dict[str, int],
    retry_topic: str, retry_partitions: int,
) -> list[Coordinates]:
    """Dead letters a killed replay run acknowledged but never audited (see module docstring)."""
    wanted = [TopicPartition(t, p) for t in dlq_topics for p in range(partitions.get(t, 0))]
    if not wanted:
        return []
    audited = {event.get("replay_id") for event in ledger.events}
    crashed: dict[str, int] = {}
    for tp in checkpoint.committed(wanted, timeout=10):
        replay_id, _, started = (tp.metadata or "").partition(";")
        if tp.offset >= 0 and replay_id and replay_id not in audited and started.isdigit():
            crashed[replay_id] = min(int(started), crashed.get(replay_id, int(started)))
    if not crashed:
        return []
    since = min(crashed.values())
    starts = checkpoint.offsets_for_times(
        [TopicPartition(retry_topic, p, since) for p in range(retry_partitions)], timeout=10)
    if all(tp.offset < 0 for tp in starts):
        return []
    # a partition with nothing written since the crashed run started is not read at all
    start = {(tp.topic, tp.partition): tp.offset if tp.offset >= 0 else 2**62 for tp in starts}
    found: list[Coordinates] = []
    for message in read_topics(checkpoint, [retry_topic], start):
        letter = dl.read_dead_letter(message)
        headers = dict(letter.headers)
        replay_id = (headers.get(dl.REPLAY_ID) or b"").decode("utf-8", errors="replace")
        replay_of = (headers.get(dl.REPLAY_OF) or b"").decode("utf-8", errors="replace")
        topic, _, rest = replay_of.rpartition(":")
        topic, _, partition = topic.rpartition(":")
        if replay_id in crashed and partition.isdigit() and rest.isdigit():
            found.append((topic, int(partition), int(rest)))
    return found
