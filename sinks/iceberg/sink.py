"""The sink loop: read the chosen topics from the offsets the tables hold, commit rows and
offsets together, dead-letter what cannot become a row.

One consumer with ``assign()`` (no group, no offset commits: the tables are the offset store,
sinks/iceberg/tables.py). Records are buffered per topic and committed every
``iceberg_commit_interval_s``, when ``iceberg_max_batch_rows`` are buffered, when idle or at
the end of ``--once``, and on SIGTERM/Ctrl-C: one snapshot per table per commit, carrying every
partition's next offset. Dead letters are acknowledged by Kafka before the commit that moves
past them, so a crash may repeat a dead letter (at least once, recognizable by its original
coordinates) but never loses or repeats a row.
"""

from __future__ import annotations

import io
import json
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import fastavro
import pyarrow as pa
from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    Message,
    Producer,
    TopicPartition,
)
from pyiceberg.catalog import Catalog
from pyiceberg.exceptions import CommitFailedException, ValidationError
from pyiceberg.table import Table

from backbone import schemas
from backbone.avro_codec import Codec, Unsupported
from backbone.clients import KafkaClients
from backbone.errors import (
    BackboneError,
    DecodeError,
    PublishError,
    SchemaValidationError,
    categorize,
)
from backbone.headers import CORRELATION_ID, TRACEPARENT
from backbone.serde import AvroSerde
from backbone.topics import Topic
from sinks.iceberg import dead_letters
from sinks.iceberg.metrics import SinkMetrics
from sinks.iceberg.schema import (
    KAFKA_COLUMN_NAMES,
    SinkTopic,
    UnsupportedSchema,
    arrow_schema,
    decoding_schema,
)
from sinks.iceberg.tables import TableCommit, committed_offsets, ensure_table

log = logging.getLogger(__name__)
CONSUMER_GROUP = "backbone.iceberg-sink"  # librdkafka wants one; never joined, never committed
_HEADER_SIZE = 5  # Confluent framing: magic byte + schema id


@dataclass(frozen=True)
class SinkOptions:
    namespace: str = "backbone"
    commit_interval_s: float = 10.0
    max_batch_rows: int = 100_000
    dead_letter_topic: str = "iceberg-sink.dlq.v1"
    pause_before_commit: Path | None = None


@dataclass
class SinkSummary:
    rows: int = 0
    commits: int = 0
    dead_letters: int = 0
    rows_by_table: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class _Writer:
    """How to read records of one writer schema id, and the columns they carry."""

    columns: pa.Schema
    decode: Callable[[bytes], tuple[Any, int]]


@dataclass
class _Batch:
    messages: list[Message] = field(default_factory=list)
    next_offsets: dict[int, int] = field(default_factory=dict)


class IcebergSink:
    """Topics -> Iceberg tables, exactly once (see the module docstring)."""

    def __init__(self, catalog: Catalog, topics: list[SinkTopic], serde: AvroSerde,
                 kafka: KafkaClients, options: SinkOptions,
                 metrics: SinkMetrics | None = None) -> None:
        self.catalog = catalog
        self.topics = {topic.name: topic for topic in topics}
        self.serde = serde
        self.kafka = kafka
        self.options = options
        self.metrics = metrics or SinkMetrics()
        self.stopping = threading.Event()
        self._tables: dict[str, Table] = {}
        self._positions: dict[str, dict[int, int]] = {}  # committed: next offset per partition
        self._writers: dict[tuple[str, int], _Writer | UnsupportedSchema] = {}
        self._batches: dict[str, _Batch] = {}
        self._consumer: Consumer | None = None
        self._producer: Producer | None = None

    # -- running ----------------------------------------------------------------------------

    def run(self, *, once: bool = False, until_idle_s: float | None = None) -> SinkSummary:
        """Run until stopped, until every partition is read to its end (``once``), or until
        ``until_idle_s`` seconds pass without a record."""
        with self._stop_on_signals():
            return self._run(once, until_idle_s)

    def _run(self, once: bool, until_idle_s: float | None) -> SinkSummary:
        summary = SinkSummary()
        for topic in self.topics.values():
            table = ensure_table(self.catalog, self.options.namespace, topic,
                                 arrow_schema(schemas.load(topic.catalog.record or "")))
            self._tables[topic.name] = table
            self._positions[topic.name] = committed_offsets(table, topic.name)
        consumer = Consumer(self.kafka.consumer(CONSUMER_GROUP, **{
            "enable.partition.eof": True,  # --once: know when each partition is read to its end
        }))
        self._consumer = consumer
        try:
            assigned = self._assign(consumer)
            self._loop(consumer, assigned, once, until_idle_s, summary)
            self._flush(summary)
        finally:
            consumer.close()
            if self._producer is not None:
                self._producer.flush(10)
        return summary

    def _assign(self, consumer: Consumer) -> set[tuple[str, int]]:
        assignment = []
        for name in self.topics:
            metadata = consumer.list_topics(name, timeout=10).topics.get(name)
            if metadata is None or metadata.error is not None:
                raise ValueError(f"topic {name} does not exist; create the catalog's topics "
                                 "with `backbone topics apply`")
            positions = self._positions[name]
            for partition in metadata.partitions:
                assignment.append(TopicPartition(
                    name, partition, positions.get(partition, OFFSET_BEGINNING)))
        consumer.assign(assignment)
        log.info("iceberg sink: reading %s from %s", ", ".join(self.topics),
                 json.dumps({name: self._positions[name] for name in self.topics}))
        return {(tp.topic, tp.partition) for tp in assignment}

    def _loop(self, consumer: Consumer, assigned: set[tuple[str, int]], once: bool,
              until_idle_s: float | None, summary: SinkSummary) -> None:
        at_end: set[tuple[str, int]] = set()
        last_record = last_flush = time.monotonic()
        buffered = 0
        while not self.stopping.is_set():
            messages = consumer.consume(num_messages=5_000, timeout=0.5)
            now = time.monotonic()
            for message in messages:
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        at_end.add((message.topic(), message.partition()))
                    else:
                        log.warning("iceberg sink: %s: %s", message.topic(), error)
                    continue
                at_end.discard((message.topic(), message.partition()))
                batch = self._batches.setdefault(message.topic(), _Batch())
                batch.messages.append(message)
                batch.next_offsets[message.partition()] = message.offset() + 1
                buffered += 1
                last_record = now
            due = now - last_flush >= self.options.commit_interval_s
            if buffered and (due or buffered >= self.options.max_batch_rows):
                self._flush(summary)
                buffered, last_flush = 0, time.monotonic()
            if once and at_end >= assigned:
                return
            if until_idle_s is not None and now - last_record >= until_idle_s:
                return

    # -- committing -------------------------------------------------------------------------

    def _flush(self, summary: SinkSummary) -> None:
        for name in list(self._batches):
            batch = self._batches.pop(name)
            if batch.messages:
                self._commit(self.topics[name], batch, summary)
        self._report_lag()

    def _commit(self, topic: SinkTopic, batch: _Batch, summary: SinkSummary) -> None:
        started = time.monotonic()
        rows, failed, writers = self._rows(topic, batch.messages)
        table = self._tables[topic.name]
        commit = TableCommit(table, writers)
        columns = commit.columns
        record_columns = pa.schema([column for column in columns
                                    if column.name not in KAFKA_COLUMN_NAMES])
        arrow, more_failed = _to_arrow(rows, record_columns)
        for index, error in more_failed:
            message = batch.messages[index]
            failed.append((message, SchemaValidationError(
                f"{message.topic()}[{message.partition()}]@{message.offset()}: does not fit "
                f"the table's columns: {type(error).__name__}: {error}")))
        dropped = {index for index, _ in more_failed}
        written = [message for index, message in enumerate(batch.messages)
                   if index not in dropped]
        for name, values in kafka_columns(written).items():
            column = columns.field(name)  # pyiceberg's Arrow: large_string for strings
            arrow = arrow.append_column(column, values.cast(column.type))
        arrow = arrow.select(columns.names)
        self._dead_letter(topic, failed)
        offsets = {**self._positions[topic.name], **batch.next_offsets}
        try:
            self._tables[topic.name] = commit.write(arrow, topic.name, offsets,
                                                    self.options.pause_before_commit)
        except CommitFailedException as error:
            self._rewind(topic, error)
            return
        self._positions[topic.name] = offsets
        elapsed = time.monotonic() - started
        self.metrics.commit_seconds.labels(topic.table).observe(elapsed)
        self.metrics.rows.labels(topic.table).inc(arrow.num_rows)
        self.metrics.commits.labels(topic.table).inc()
        summary.rows += arrow.num_rows
        summary.commits += 1
        summary.dead_letters += len(failed)
        summary.rows_by_table[topic.table] = \
            summary.rows_by_table.get(topic.table, 0) + arrow.num_rows
        log.info("iceberg sink: %s: committed %d rows (%d dead letters) in %.2fs, offsets %s",
                 topic.table, arrow.num_rows, len(failed), elapsed, json.dumps(offsets))

    def _rewind(self, topic: SinkTopic, error: Exception) -> None:
        # another writer committed to the table since we read it: what we hold may be in
        # its snapshot already, so drop it and read on from what the table now says
        table = self.catalog.load_table((self.options.namespace, topic.table))
        self._tables[topic.name] = table
        self._positions[topic.name] = committed_offsets(table, topic.name)
        log.warning("iceberg sink: %s changed under us (%s); reading again from %s",
                    topic.table, error, self._positions[topic.name])
        if self._consumer is not None:
            for partition, offset in self._positions[topic.name].items():
                self._consumer.seek(TopicPartition(topic.name, partition, offset))

    def _rows(self, topic: SinkTopic, messages: list[Message]) -> tuple[
            list[dict[str, Any]], list[tuple[Message, BaseException]], list[pa.Schema]]:
        rows: list[dict[str, Any]] = []
        failed: list[tuple[Message, BaseException]] = []
        writers: dict[int, pa.Schema] = {}
        kept: list[Message] = []
        source = topic.source
        for message in messages:
            try:
                schema_id, row = self._decode(topic, source, message)
            except BackboneError as error:
                failed.append((message, error))
                continue
            if schema_id not in writers:
                writer = self._writer(topic, schema_id)
                assert isinstance(writer, _Writer)  # _decode refused the others
                writers[schema_id] = writer.columns
            rows.append(row)
            kept.append(message)
        messages[:] = kept  # indexes of rows and messages agree from here on
        return rows, failed, list(writers.values())

    def _decode(self, topic: SinkTopic, source: Topic,
                message: Message) -> tuple[int, dict[str, Any]]:
        value = message.value()
        schema_id = self.serde.writer_schema_id(source, value)
        writer = self._writer(topic, schema_id)
        if isinstance(writer, UnsupportedSchema):
            raise SchemaValidationError(f"{topic.name}: writer schema id {schema_id}: {writer}")
        try:
            row, end = writer.decode(value)
        except Exception as error:  # the decoders raise many kinds on bad bytes
            raise DecodeError(f"{topic.name}[{message.partition()}]@{message.offset()}: not "
                              f"valid Avro of schema id {schema_id}: {error}") from error
        if end != len(value):
            raise DecodeError(f"{topic.name}[{message.partition()}]@{message.offset()}: "
                              f"{len(value) - end} trailing bytes after the Avro record")
        if not isinstance(row, dict):
            raise DecodeError(f"{topic.name}: schema id {schema_id} does not describe a record")
        return schema_id, row

    def _writer(self, topic: SinkTopic, schema_id: int) -> _Writer | UnsupportedSchema:
        cached = self._writers.get((topic.name, schema_id))
        if cached is None:
            avro = json.loads(self.serde.registry.schema(schema_id))
            try:
                columns = arrow_schema(avro)
                # a writer schema Iceberg cannot evolve the table to (a new field together
                # with a changed type) would fail every commit: its records are refused instead
                TableCommit(self._tables[topic.name], [columns])
                cached = _Writer(columns, _decoder(decoding_schema(avro)))
            except UnsupportedSchema as error:
                cached = error
            except ValidationError as error:
                cached = UnsupportedSchema(f"the table {topic.table} cannot take it: {error}")
            self._writers[(topic.name, schema_id)] = cached
        return cached

    def _dead_letter(self, topic: SinkTopic, failed: list[tuple[Message, BaseException]]) -> None:
        if not failed:
            return
        if self._producer is None:
            self._producer = Producer(self.kafka.producer())
        problems: list[str] = []

        def delivered(error: KafkaError | None, _message: Message) -> None:
            if error is not None:
                problems.append(error.str())

        for message, error in failed:
            log.warning("iceberg sink: dead letter %s[%d]@%d: %s", message.topic(),
                        message.partition(), message.offset(), error)
            key, value, headers = dead_letters.dead_letter(message, error)
            self._producer.produce(self.options.dead_letter_topic, key=key, value=value,
                                   headers=headers, on_delivery=delivered)
            self.metrics.dead_letters.labels(topic.name, categorize(error).value).inc()
        remaining = self._producer.flush(30)
        if remaining or problems:
            # never move the offsets past a record that is neither a row nor a dead letter
            raise PublishError(f"dead letters for {topic.name} not acknowledged by Kafka: "
                               + ("; ".join(problems[:3]) or f"{remaining} outstanding"))

    def _report_lag(self) -> None:
        if self._consumer is None:
            return
        for name, positions in self._positions.items():
            for partition, offset in positions.items():
                _, high = self._consumer.get_watermark_offsets(
                    TopicPartition(name, partition), cached=True)
                if high is not None and high >= 0:
                    self.metrics.lag.labels(name, str(partition)).set(max(0, high - offset))

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


def _decoder(avro: Any) -> Callable[[bytes], tuple[Any, int]]:
    parsed = fastavro.parse_schema(avro)
    try:
        codec = Codec(avro, parsed)
    except Unsupported:  # a writer schema outside the compiled subset: fastavro reads it
        def read(data: bytes) -> tuple[Any, int]:
            buffer = io.BytesIO(data)
            buffer.seek(_HEADER_SIZE)
            return fastavro.schemaless_reader(buffer, parsed, None), buffer.tell()
        return read
    return lambda data: codec.decode(data, _HEADER_SIZE)


def _to_arrow(rows: list[dict[str, Any]], columns: pa.Schema) -> tuple[
        pa.Table, list[tuple[int, BaseException]]]:
    """``rows`` as an Arrow table of ``columns``; rows that do not fit (a decimal over its
    precision, a value of the wrong type) are left out and returned with the reason."""
    try:
        return pa.Table.from_pylist(rows, schema=columns), []
    except (pa.ArrowException, ValueError, TypeError, OverflowError):
        pass
    kept: list[dict[str, Any]] = []
    failed: list[tuple[int, BaseException]] = []
    for index, row in enumerate(rows):  # the batch has a bad row: find it, keep the rest
        try:
            pa.Table.from_pylist([row], schema=columns)
            kept.append(row)
        except (pa.ArrowException, ValueError, TypeError, OverflowError) as error:
            failed.append((index, error))
    return pa.Table.from_pylist(kept, schema=columns), failed


def kafka_columns(messages: list[Message]) -> dict[str, pa.Array]:
    """The Kafka coordinates and trace headers of ``messages``, one Arrow array per column
    (built column-wise: a datetime object per record would cost more than the record)."""
    stamps, correlations, traces = [], [], []
    for message in messages:
        stamp_type, stamp = message.timestamp()
        stamps.append(stamp if stamp_type else None)
        correlation = trace = None
        for name, value in message.headers() or ():
            if name == CORRELATION_ID:
                correlation = _text(value)
            elif name == TRACEPARENT:
                trace = _text(value)
        correlations.append(correlation)
        traces.append(trace)
    keys = [message.key() for message in messages]
    return {
        "kafka_topic": pa.array([message.topic() for message in messages], pa.string()),
        "kafka_partition": pa.array([message.partition() for message in messages], pa.int32()),
        "kafka_offset": pa.array([message.offset() for message in messages], pa.int64()),
        "kafka_timestamp": pa.array(stamps, pa.timestamp("ms", tz="UTC")).cast(
            pa.timestamp("us", tz="UTC")),
        "kafka_key": pa.array([_text(key) for key in keys], pa.string()),
        "correlation_id": pa.array(correlations, pa.string()),
        "traceparent": pa.array(traces, pa.string()),
    }


def _text(value: bytes | None) -> str | None:
    return value.decode("utf-8", "replace") if value is not None else None
