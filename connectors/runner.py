"""Runs a source task: poll, publish, wait for Kafka, store source offsets, release the source.

The order is the whole guarantee (connectors/api.py explains the offsets):

1. ``task.poll`` returns a batch of records (events and dead letters);
2. events go out through :class:`producers.EventPublisher`, dead letters to the connector's
   dead-letter topic; the runner waits until Kafka acknowledged **every** one of them;
3. the last source offset of each source partition in the batch is written to the offsets topic
   (and acknowledged);
4. only then ``task.commit`` releases the batch at the source.

A crash anywhere before 4 makes the task read the batch again: at least once, with the same
idempotency keys. SIGTERM / SIGINT finish the batch in flight (steps 1-4) and stop.

An event the serde refuses before producing (over the topic's size limit, a value Avro cannot
hold such as a lone surrogate) can never be written, so retrying it would halt the feed: it
becomes a dead letter (the event as JSON) like a record the task itself rejected. A dead letter
is never refused by Kafka for its size either: its value is cut to DEAD_LETTER_VALUE_LIMIT
(headers say the original size and hash) and its message to DEAD_LETTER_REASON_LIMIT.
"""

from __future__ import annotations

import hashlib
import json
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from types import FrameType
from typing import Any, Protocol

from confluent_kafka import KafkaError, Message, Producer

from backbone.clients import KafkaClients
from backbone.dead_letters import DeadLetter as DeadLetterRecord
from backbone.dead_letters import Stage, clip, now_ms, redact
from backbone.errors import (
    BackboneError,
    Category,
    EventTooLargeError,
    PublishError,
    TransientError,
)
from backbone.metrics import ConnectorMetrics, serve
from backbone.topics import Topic, for_record
from connectors.api import (
    DeadLetter,
    OffsetReader,
    SourceConnector,
    SourceOffset,
    SourcePartition,
    SourceRecord,
)
from connectors.offsets import OFFSETS_TOPIC, KafkaOffsetStore
from producers.publisher import (
    Delivery,
    EventPublisher,
    PublishHooks,
    producer_config,
    wait_all,
)

# The catalog's dead-letter topics and librdkafka both take records up to 1,000,000 bytes;
# this leaves room for the key and the headers.
DEAD_LETTER_VALUE_LIMIT = 900_000
DEAD_LETTER_REASON_LIMIT = 2_000
# What serializing an event raises when the event itself cannot be written (never a broker
# or registry failure: those are BackboneErrors other than EventTooLargeError, or RuntimeError)
REFUSED_BEFORE_PRODUCE = (EventTooLargeError, ValueError, TypeError, OverflowError)

@dataclass
class RunSummary:
    """What a run did, for the exit code and the last line a command prints."""

    batches: int = 0
    published: int = 0
    dead_letters: int = 0
    failures: list[str] = field(default_factory=list)

    def line(self, connector: str) -> str:
        return (f"{connector}: {self.published} events published, {self.dead_letters} dead "
                f"letters, {self.batches} batches")


class OffsetCommitter(OffsetReader, Protocol):
    """What the runner needs from an offset store (KafkaOffsetStore, or a test double)."""

    def commit(self, connector: str,
               offsets: Sequence[tuple[SourcePartition, SourceOffset]]) -> None: ...


class SourceRunner:
    """Drives one connector's task until it is idle (``once``) or asked to stop."""

    def __init__(
        self,
        connector: SourceConnector,
        publisher: EventPublisher,
        offsets: OffsetCommitter,
        *,
        dead_letters: Producer | None = None,
        kafka: KafkaClients | str | None = None,
        routes: Mapping[str, Topic] | None = None,
        batch_size: int = 1000,
        idle_wait_s: float = 1.0,
        retry_wait_s: float = 5.0,
        dependency_wait_s: float = 120.0,
        log: Callable[[str], None] | None = None,
        metrics: ConnectorMetrics | None = None,
    ) -> None:
        """``routes`` maps an event type (``PurchaseOrderChanged``) to another topic than its
        catalog one (staging, tests); ``dead_letters`` defaults to a producer on ``kafka``.
        A dependency that does not answer (the schema registry: TransientError) is waited for,
        retrying every ``retry_wait_s``, for up to ``dependency_wait_s``; then the run fails
        with the last error. Nothing is dead-lettered for it.
        """
        if dead_letters is None:
            if kafka is None:
                raise ValueError("give dead_letters or kafka")
            dead_letters = Producer(producer_config(kafka))
        self.connector = connector
        self.publisher = publisher
        self.offsets = offsets
        self.dead_letters = dead_letters
        self.routes = dict(routes or {})
        self.batch_size = batch_size
        self.idle_wait_s = idle_wait_s
        self.retry_wait_s = retry_wait_s
        self.dependency_wait_s = dependency_wait_s
        self.log = log or (lambda text: print(text, file=sys.stderr))
        self.stopping = threading.Event()
        self.metrics = metrics

    def run(self, *, once: bool = False) -> RunSummary:
        """Relay until the source is drained (``once``) or SIGTERM / SIGINT / :meth:`stop`."""
        summary = RunSummary()
        task = self.connector.task()
        with self._stop_on_signals():
            task.start(self.offsets)
            waiting_since: float | None = None
            try:
                while not self.stopping.is_set():
                    records = task.poll(self.batch_size)
                    if not records:
                        if once:
                            break
                        self.stopping.wait(self.idle_wait_s)
                        continue
                    try:
                        self._deliver(records, summary)
                    except PublishError as error:
                        task.abandon(records)
                        summary.failures.append(str(error))
                        if once:
                            raise
                        self.log(f"{self.connector.name}: {error}; retrying in "
                                 f"{self.retry_wait_s:.0f}s")
                        self.stopping.wait(self.retry_wait_s)
                        continue
                    except TransientError as error:
                        # the rows are claimed again after the wait; some events of the batch
                        # may already be in Kafka: at least once, same idempotency keys
                        task.abandon(records)
                        waiting_since = waiting_since or time.monotonic()
                        waited = time.monotonic() - waiting_since
                        if waited >= self.dependency_wait_s:
                            raise TransientError(
                                f"{error} (still failing after {waited:.0f}s of retries; "
                                "nothing was dead-lettered for it: run again once it is back)"
                            ) from error
                        self.log(f"{self.connector.name}: {error}; retrying in "
                                 f"{self.retry_wait_s:.0f}s (giving up after "
                                 f"{self.dependency_wait_s:.0f}s)")
                        self.stopping.wait(self.retry_wait_s)
                        continue
                    except BaseException:
                        task.abandon(records)
                        raise
                    waiting_since = None
                    task.commit(records)
            finally:
                task.stop()
        return summary

    def stop(self) -> None:
        """Finish the batch in flight, then return from :meth:`run`."""
        self.stopping.set()

    def _deliver(self, records: Sequence[SourceRecord], summary: RunSummary) -> None:
        futures: list[Future[Delivery]] = []
        dead_letter_failures: list[str] = []
        dead_letter_count = 0
        for record in records:
            if record.event is not None:
                route = self.routes.get(record.event.event_type)
                try:
                    futures.append(self.publisher.publish(record.event, topic=route))
                    continue
                except REFUSED_BEFORE_PRODUCE as error:
                    record = refused_event(record, error)
            self._dead_letter(record, dead_letter_failures)
            dead_letter_count += 1
        self.publisher.flush()
        wait_all(futures)
        if self.dead_letters.flush(self.publisher.flush_timeout_s) or dead_letter_failures:
            raise PublishError(
                f"dead letters of {self.connector.name} not acknowledged by Kafka: "
                + ("; ".join(dead_letter_failures[:3]) or "no delivery report")
            )
        self.offsets.commit(self.connector.name, last_offsets(records))
        if self.metrics is not None:
            self.metrics.offsets_committed()
            self.metrics.dead_lettered(dead_letter_count)
        summary.batches += 1
        summary.published += len(futures)
        summary.dead_letters += dead_letter_count

    def _dead_letter(self, record: SourceRecord, failures: list[str]) -> None:
        assert record.dead_letter is not None
        record = replace(record, dead_letter=bounded(record.dead_letter))
        letter = record.dead_letter
        assert letter is not None

        def on_delivery(error: KafkaError | None, _message: Message) -> None:
            if error is not None:
                failures.append(error.str())

        self.log(f"{self.connector.name}: dead letter: {letter.reason}")
        # a key may hold a file name that is not UTF-8 (os.fsdecode's surrogate escapes)
        key = None if letter.key is None else letter.key.encode("utf-8", "backslashreplace")
        while True:
            try:
                self.dead_letters.produce(
                    self.connector.dead_letter_topic, key=key, value=letter.value,
                    headers=dead_letter_headers(self.connector.name, record),
                    on_delivery=on_delivery)
                break
            except BufferError:
                self.dead_letters.poll(0.1)

    @contextmanager
    def _stop_on_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def handle(_signum: int, _frame: FrameType | None) -> None:
            self.stopping.set()

        previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def refused_event(record: SourceRecord, error: Exception) -> SourceRecord:
    """``record``'s event as a dead letter: the serde refused it, so it can never be written."""
    event = record.event
    assert event is not None
    try:
        value = json.dumps(event.to_json_dict()).encode()
    except (ValueError, TypeError):  # the same value that broke Avro may break JSON
        value = repr(event).encode("utf-8", "backslashreplace")
    category = error.category if isinstance(error, BackboneError) else Category.SCHEMA_VALIDATION
    reason = (f"{event.event_type} {event.idempotency_key} cannot be written: "
              f"{type(error).__name__}: {error}; fix the source item and send it again")
    letter = DeadLetter(reason=reason, category=category, key=event.idempotency_key,
                        value=value, where={"event_id": event.event_id,
                                            "event_type": event.event_type})
    return SourceRecord(record.source_partition, record.source_offset, dead_letter=letter)


def bounded(letter: DeadLetter) -> DeadLetter:
    """``letter`` cut to what Kafka takes: value and message within the limits above."""
    reason = letter.reason
    if len(reason) > DEAD_LETTER_REASON_LIMIT:
        reason = reason[:DEAD_LETTER_REASON_LIMIT] + " [cut]"
    if len(letter.value) <= DEAD_LETTER_VALUE_LIMIT:
        return letter if reason is letter.reason else replace(letter, reason=reason)
    return replace(letter, reason=reason, value=letter.value[:DEAD_LETTER_VALUE_LIMIT], where={
        **letter.where, "value_truncated": "true", "value_bytes": str(len(letter.value)),
        "value_sha256": hashlib.sha256(letter.value).hexdigest()})


def last_offsets(records: Sequence[SourceRecord]) -> list[tuple[SourcePartition, SourceOffset]]:
    """The offset of the last record of each source partition, in first-seen order."""
    last: dict[str, tuple[SourcePartition, SourceOffset]] = {}
    for record in records:
        last[record.partition_key] = (record.source_partition, record.source_offset)
    return list(last.values())


def dead_letter_headers(connector: str, record: SourceRecord) -> list[tuple[str, bytes]]:
    """Headers of a connector's dead letter: backbone's dead-letter record (its place in the
    source from ``DeadLetter.where``, the source partition and offset), no stack: the reason
    names the input and what to do."""
    letter = record.dead_letter
    assert letter is not None
    return DeadLetterRecord(
        stage=Stage.CONNECTOR.value, owner=connector, category=letter.category.value,
        message=clip(redact(letter.reason)), first_failure_ms=(now := now_ms()),
        last_failure_ms=now, business_key=letter.key,
        source={**letter.where, "partition": record.partition_key,
                "offset": _json(record.source_offset)},
    ).to_headers()


def _json(value: Mapping[str, Any]) -> str:
    return json.dumps(dict(value), sort_keys=True, separators=(",", ":"))


def parse_routes(routes: Sequence[str]) -> dict[str, Topic]:
    """``EventType=topic`` options as topic overrides (same settings as the catalog topic)."""
    parsed: dict[str, Topic] = {}
    for route in routes:
        event_type, _, name = route.partition("=")
        try:
            catalog = for_record(event_type.strip())
        except KeyError:
            raise ValueError(f"--route {route!r}: {event_type!r} is not an event type the "
                             "catalog knows (e.g. PurchaseOrderChanged=staging.po.v1)") from None
        if not name.strip():
            raise ValueError(f"--route {route!r} names no topic; write EventType=topic")
        parsed[event_type.strip()] = replace(catalog, name=name.strip())
    return parsed


def run_command(connector: SourceConnector, *, once: bool, routes: Sequence[str] = (),
                offsets_topic: str | None = None, dead_letter_topic: str | None = None,
                batch_size: int = 1000) -> RunSummary:
    """What ``backbone connect <name>`` does: wire Kafka, the registry and the offsets topic
    from settings, run, print the summary line on stderr. Exits 1 when there were dead letters.
    """
    from backbone.cli.context import endpoints, serde
    from backbone.cli.exits import PARTIAL, fail
    from backbone.settings import load_settings

    settings = load_settings()
    where = endpoints(settings)
    try:
        topics = parse_routes(routes)
    except ValueError as error:
        fail(str(error))
    if dead_letter_topic:
        connector.dead_letter_topic = dead_letter_topic
    store = KafkaOffsetStore(where.kafka, topic=offsets_topic or OFFSETS_TOPIC)
    try:
        store.load()
        events_serde = serde(settings)
        metrics = ConnectorMetrics(connector.name)
        serve(metrics.registry, settings.metrics_port)
        hooks = PublishHooks(on_delivered=lambda d, s: metrics.delivered(d.topic, s),
                             on_failed=lambda topic, _event_id, _error: metrics.failed(topic))
        with events_serde.registry, EventPublisher(
                where.kafka, events_serde, hooks=hooks,
                flush_timeout_s=settings.publish_flush_timeout_s) as publisher:
            runner = SourceRunner(connector, publisher, store,
                                  kafka=where.kafka, routes=topics,
                                  batch_size=batch_size, metrics=metrics)
            summary = runner.run(once=once)
    except BackboneError as error:
        fail(f"{connector.name}: {error}")
    print(summary.line(connector.name), file=sys.stderr)
    if summary.dead_letters:
        raise SystemExit(PARTIAL)
    return summary
