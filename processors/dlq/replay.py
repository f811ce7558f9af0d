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

import contextlib
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from confluent_kafka import Consumer, Producer, TopicPartition

from backbone import dead_letters as dl
from backbone.errors import BackboneError, DecodeError, PublishError, categorize
from backbone.headers import TRACEPARENT, child_traceparent
from backbone.serde import AvroSerde
from backbone.settings import Settings
from backbone.topics import Topic
from connectors.replay import replayable, reread
from processors.api import ProcessorSpec, ProcessorTopics, check
from processors.dead_letters import RETRY_ATTEMPT_HEADER
from processors.dlq.audit import Coordinates, Ledger
from processors.dlq.dialects import DeadLetterMessage, read_dead_letter
from processors.dlq.reading import read_topics
from producers.publisher import Delivery, EventPublisher

FOREIGN_PREFIXES = ("__connect.errors.", "kafka_dlt-", "x-original-", "x-exception-",
                    "__streams.errors.", "retry_topic-")
# what a replayed copy does not carry over: backbone's bookkeeping (written anew), foreign
# dead-letter headers, the traceparent (a child span replaces it)
_NOT_KEPT = (*dl.BOOKKEEPING_PREFIXES, *FOREIGN_PREFIXES)


class Decision(StrEnum):
    REPLAY = "replay"
    ALREADY_REPLAYED = "already-replayed"
    PARKED = "parked"


def checkpoint_group(processor: str) -> str:
    return f"backbone-dlq-replay-{processor}"


def times_replayed(letter: DeadLetterMessage, ledger: Ledger) -> int:
    return letter.record.replay_count + ledger.replayed[_where(letter)]


def _where(letter: DeadLetterMessage) -> Coordinates:
    return (letter.topic, letter.partition, letter.offset)


def decide(letter: DeadLetterMessage, ledger: Ledger, max_replays: int, force: bool) -> Decision:
    if times_replayed(letter, ledger) >= max_replays:
        return Decision.PARKED
    if ledger.replayed[_where(letter)] and not force:
        return Decision.ALREADY_REPLAYED
    return Decision.REPLAY


def replay_headers(letter: DeadLetterMessage, replay_id: str, replay_count: int) -> dl.Headers:
    """Headers of the replayed copy of ``letter`` (see the module docstring, rule 4)."""
    kept = [
        (name, value if value is not None else b"")
        for name, value in letter.headers
        if not name.startswith(_NOT_KEPT) and name != TRACEPARENT
    ]
    parent = next((v for n, v in reversed(letter.headers) if n == TRACEPARENT and v), None)
    kept.append((TRACEPARENT, child_traceparent(
        parent.decode("ascii", errors="replace") if parent else None).encode()))
    record = letter.record
    first_failure = record.first_failure_ms or record.last_failure_ms
    added = {
        dl.ORIGINAL_TOPIC: record.original_topic,
        dl.ORIGINAL_PARTITION: _text(record.original_partition),
        dl.ORIGINAL_OFFSET: _text(record.original_offset),
        dl.ORIGINAL_TIMESTAMP: None if record.original_timestamp_ms is None
        else dl.format_time(record.original_timestamp_ms),
        dl.FIRST_FAILURE: None if first_failure is None else dl.format_time(first_failure),
        dl.BUSINESS_KEY: record.business_key,
        dl.CORRELATION: record.correlation_id,
        dl.REPLAY_ID: replay_id,
        dl.REPLAY_COUNT: str(replay_count),
        dl.REPLAY_OF: letter.coordinates,
        RETRY_ATTEMPT_HEADER: "0",
    }
    return kept + [(name, text.encode()) for name, text in added.items() if text is not None]


def _text(value: int | None) -> str | None:
    return None if value is None else str(value)


@dataclass(frozen=True)
class Prediction:
    """What replaying one dead letter would do now; ``events`` are what a source-side dead
    letter would publish (JSON as `backbone tail` prints it)."""

    letter: DeadLetterMessage
    succeeds: bool
    reason: str = ""
    events: tuple[dict[str, Any], ...] = ()

    @property
    def verdict(self) -> str:
        if not self.succeeds:
            return f"still fails: {self.reason}"
        return f"would publish {len(self.events)} event(s)" if self.events else "would succeed"


def predict(
    letters: Iterable[DeadLetterMessage], spec: ProcessorSpec | None, serde: AvroSerde,
    topics: ProcessorTopics, settings: Settings,
) -> list[Prediction]:
    """Run each dead letter through its owner's current code; nothing is produced.

    A processor's dead letter goes through ``spec``'s stateless check, with the settings
    ``backbone process`` runs with; a connector's or webhook's is mapped again
    (connectors/replay.py) and the events it yields are returned.
    """
    result = []
    for letter in letters:
        record = letter.record
        try:
            if replayable(record):
                events = reread(record, letter.value)
                result.append(Prediction(letter, True, events=tuple(
                    event.to_json_dict() for event in events)))
                continue
            if spec is None:
                raise DecodeError(f"no processor owns {letter.topic}; name it")
            if not record.original_topic:
                result.append(Prediction(letter, False, "no original topic in its headers"))
                continue
            check(spec, record.original_topic, letter.value, serde, settings, topics=topics)
        except BackboneError as error:
            result.append(Prediction(letter, False, f"{categorize(error).value}: {error}"))
        except Exception as error:  # the check is the owner's code; report, don't crash
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


class Destination(Protocol):
    """Where replayed dead letters go: :class:`RetryTopic` or :class:`SourceRemap`."""

    name: str  # for messages and the audit record

    def send(self, letter: DeadLetterMessage, replay_id: str, replay_count: int,
             done: Callable[[str | None], None]) -> None:
        """Start sending ``letter``; call ``done(None)`` once Kafka has it, else
        ``done(reason)``. Never raises for one letter."""

    def pump(self, timeout_s: float) -> None:
        """Serve delivery reports."""

    def flush(self, timeout_s: float) -> None:
        """Wait (bounded) for every outstanding delivery."""


class RetryTopic:
    """A processor's dead letters go back, bytes untouched, through its retry topic."""

    def __init__(self, producer: Producer, topic: str) -> None:
        self.producer, self.name = producer, topic

    def send(self, letter: DeadLetterMessage, replay_id: str, replay_count: int,
             done: Callable[[str | None], None]) -> None:
        def on_delivery(error: object, _message: object) -> None:
            done(None if error is None else str(error))

        _produce(self.producer, self.name, letter,
                 replay_headers(letter, replay_id, replay_count), on_delivery)

    def pump(self, timeout_s: float) -> None:
        self.producer.poll(timeout_s)

    def flush(self, timeout_s: float) -> None:
        self.producer.flush(timeout_s)


class SourceRemap:
    """A connector's or webhook's dead letter is mapped again by the current code and what it
    yields now is published (connectors/replay.py); ``routes`` override catalog topics."""

    def __init__(self, publisher: EventPublisher, routes: Mapping[str, Topic] | None = None,
                 name: str = "the events' catalog topics") -> None:
        self.publisher, self.routes, self.name = publisher, dict(routes or {}), name

    def send(self, letter: DeadLetterMessage, replay_id: str, replay_count: int,
             done: Callable[[str | None], None]) -> None:
        try:
            events = reread(letter.record, letter.value)
            futures = [self.publisher.publish(event, topic=self.routes.get(event.event_type),
                                              traceparent=child_traceparent(
                                                  letter.record.traceparent))
                       for event in events]
        except BackboneError as error:
            done(f"still fails: {categorize(error).value}: {error}")
            return
        pending = [len(futures)]
        failures: list[str] = []

        def settled(future: Future[Delivery]) -> None:
            error = future.exception(timeout=0)
            if error is not None:
                failures.append(str(error))
            pending[0] -= 1
            if not pending[0]:
                done(failures[0] if failures else None)

        if not futures:
            done(None)
        for future in futures:
            future.add_done_callback(settled)

    def pump(self, timeout_s: float) -> None:
        self.publisher.poll(timeout_s)

    def flush(self, timeout_s: float) -> None:
        # the letters without a report are counted neither replayed nor failed
        with contextlib.suppress(PublishError):
            self.publisher.flush(timeout_s)


def replay(
    letters: Sequence[DeadLetterMessage],
    *,
    ledger: Ledger,
    destination: Destination,
    checkpoint: Consumer,
    max_replays: int,
    force: bool,
    rate: float,
    started_ms: int,
    replay_id: str | None = None,
    advance: Callable[[], None] = lambda: None,
    commit_every_s: float = 0.2,
) -> ReplayOutcome:
    """Send the replayable ``letters`` to ``destination``; Ctrl-C ends it cleanly."""
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

    def delivered(letter: DeadLetterMessage) -> Callable[[str | None], None]:
        def done(failure: str | None) -> None:
            if failure is not None:
                outcome.failed.append(f"{letter.coordinates}: {failure}")
                return
            outcome.replayed.append(_where(letter))
            where = (letter.topic, letter.partition)
            acked[where] = max(acked.get(where, -1), letter.offset)
        return done

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
                destination.send(letter, outcome.replay_id, times_replayed(letter, ledger) + 1,
                                 delivered(letter))
                destination.pump(0)
                if time.monotonic() - last_commit[0] > commit_every_s:
                    commit(asynchronous=True)
            advance()
    except KeyboardInterrupt:
        outcome.interrupted = True
    finally:
        destination.flush(60)
        commit(asynchronous=False)
    return outcome


def _produce(producer: Producer, topic: str, letter: DeadLetterMessage, headers: dl.Headers,
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
        letter = read_dead_letter(message)
        headers = dict(letter.headers)
        replay_id = (headers.get(dl.REPLAY_ID) or b"").decode("utf-8", errors="replace")
        replay_of = (headers.get(dl.REPLAY_OF) or b"").decode("utf-8", errors="replace")
        topic, _, rest = replay_of.rpartition(":")
        topic, _, partition = topic.rpartition(":")
        if replay_id in crashed and partition.isdigit() and rest.isdigit():
            found.append((topic, int(partition), int(rest)))
    return found
