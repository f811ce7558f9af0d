"""The processors' shared engine: one Quix Streams application per processor, errors as data.

Every processor is a pure reducer (``ProcessorLogic.handle``) run by the same pipeline:

    inputs + <processor>.retry.v1  (bytes)
      └─ concat ─► [route: decode, fan out and re-key with group_by]  (multi-key processors)
                 ─► stateful step: decode ─► handle(state) ─► encode
                 ─► to_topic: outputs, <processor>.dlq.v1, <processor>.retry.v1

Why this shape:
- Inputs are consumed as BYTES and decoded with backbone's serde inside the step, so a record
  that does not decode (a poison pill) becomes a dead letter instead of stopping the partition.
- Every record the step emits (outputs, dead letters, retries) goes through ``sdf.to_topic``, the
  application's transactional producer: with ``processing_guarantee="exactly-once"`` a dead
  letter is committed in the same Kafka transaction as the input offset and the state changelog.
- State is RocksDB with changelog topics; the state of a key changes only when ``handle``
  returned (a failed record leaves it untouched).
- ``auto_recover_from_source_offset_out_of_range=False``: Quix would otherwise DELETE the local
  state of a partition whose committed offset fell out of retention and silently rebuild from
  whatever is left; we prefer to stop and let an operator decide.
- Retries never block the partition: a record that is not due yet is produced back to the retry
  topic (same transaction) and only the retry topic's partition is paused until it is due.

Processors whose state key differs from some input's record key (order_fulfillment keys by PO
number, stock_reconciliation turns ASNs into in-transit per sku@location) give a ``route``
function: the first stage decodes each record, fans it out to the state keys it concerns and
re-keys it through a Quix ``group_by`` repartition topic; the record travels as an
:class:`Envelope` that keeps the original key, value, headers and coordinates for dead letters.
"""

from __future__ import annotations

import base64
import dataclasses
import logging
import random
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson
from confluent_kafka import TopicPartition
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server
from quixstreams import Application, message_context
from quixstreams.kafka.configuration import ConnectionConfig
from quixstreams.models.serializers import Serializer

from backbone.clients import KafkaClients
from backbone.errors import BackboneError, Category, categorize
from backbone.events import Event, OrderLineStatus
from backbone.headers import CORRELATION_ID, child_traceparent
from backbone.registry import RegistryAuthError
from backbone.serde import AvroSerde
from backbone.settings import Settings
from processors import retry
from processors.api import ProcessorSpec, ProcessorTopics
from processors.dead_letters import dead_letter_record, now_ms

log = logging.getLogger(__name__)

Headers = list[tuple[str, bytes]]
# (state key, catalog topic, event, stored state) -> (new state, [(catalog topic, event)])
Handle = Callable[[str, str, Event, Any], tuple[Any, list[tuple[str, Event]]]]
# (catalog topic, event) -> the state keys the event concerns (empty: nothing to do)
Route = Callable[[str, Event], Sequence[str]]

STATE_KEY = "state"


@dataclass(frozen=True)
class ProcessorLogic:
    """What makes one processor: its spec, its pure reducer and (optionally) its routing."""

    spec: ProcessorSpec
    handle: Handle
    route: Route | None = None


@dataclass(frozen=True)
class Emit:
    """One record the step produces (output, dead letter or retry); ``topic`` is a catalog name."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: Headers


@dataclass(frozen=True)
class Envelope:
    """An input record as it travels through a repartition topic, coordinates kept."""

    topic: str  # actual topic it was read from (an input or the retry topic)
    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: Headers
    route_key: str

    def to_json(self) -> dict[str, Any]:
        return {
            "t": self.topic, "p": self.partition, "o": self.offset, "ts": self.timestamp_ms,
            "k": _b64(self.key), "v": _b64(self.value),
            "h": [[name, _b64(value)] for name, value in self.headers],
            "r": self.route_key,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Envelope:
        return cls(
            data["t"], data["p"], data["o"], data["ts"], _unb64(data["k"]), _unb64(data["v"]),
            [(name, _unb64(value) or b"") for name, value in data["h"]], data["r"],
        )


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")


def _unb64(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text)


class _EmitSerializer(Serializer):
    """Output topics get the Emit's bytes as they are (the step encoded them already)."""

    def __call__(self, *args: Any, **kwargs: Any) -> str | bytes:
        emit: Emit = args[0]
        return emit.value  # type: ignore[return-value]  # None is a tombstone, never emitted


class ProcessorMetrics:
    """Prometheus metrics of one processor process (own registry: no global state)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.events_in = Counter(
            "backbone_processor_events_in", "Records read by a processor.",
            ["processor", "topic"], registry=self.registry,
        )
        self.events_out = Counter(
            "backbone_processor_events_out",
            "Records written by a processor, by topic and outcome (output, dead_letter, retry, "
            "requeued).", ["processor", "topic", "outcome"], registry=self.registry,
        )
        self.dead_letters = Counter(
            "backbone_processor_dead_letters", "Dead letters written, by category.",
            ["processor", "category"], registry=self.registry,
        )
        self.latency = Histogram(
            "backbone_processor_latency_seconds",
            "Time to process one record (decode, reduce, encode), without Kafka I/O.",
            ["processor"], registry=self.registry,
            buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1.0),
        )
        self.event_age = Histogram(
            "backbone_processor_event_age_seconds",
            "Age of each output event when written: now - occurred_at (how stale the "
            "normalized streams are).", ["processor", "topic"], registry=self.registry,
            buckets=(1, 5, 30, 60, 300, 900, 3600, 6 * 3600, 86400, 7 * 86400),
        )
        self.consumer_lag = Gauge(
            "backbone_processor_consumer_lag",
            "Records between the processor's position and the end of each input partition.",
            ["processor", "topic", "partition"], registry=self.registry,
        )
        self.ack_sla_breaches = Counter(
            "backbone_supplier_ack_sla_breaches",
            "PO lines that became overdue for a supplier acknowledgement (counted once per "
            "line and process; a restart may count a line again once).",
            ["processor"], registry=self.registry,
        )
        # PO key -> overdue line numbers last emitted; bounded, so memory stays flat.
        self._overdue: OrderedDict[str, frozenset[str]] = OrderedDict()
        # labelled children of the per-record metrics: ``labels()`` checks and locks on every
        # call, which costs more than the observation itself at thousands of records a second
        self._children: dict[tuple[Any, ...], Any] = {}

    def child(self, metric: Any, *labels: str) -> Any:
        """``metric.labels(*labels)``, looked up once per label set."""
        found = self._children.get((metric, *labels))
        if found is None:
            found = self._children[(metric, *labels)] = metric.labels(*labels)
        return found

    def output(self, processor: str, topic: str, event: Event) -> None:
        """Hook for every output event: its age, and acknowledgement-SLA transitions."""
        age = time.time() - event.occurred_at.timestamp()
        self.child(self.event_age, processor, topic).observe(max(age, 0.0))
        if isinstance(event, OrderLineStatus):
            key = f"{event.buyer}|{event.po_number}"
            overdue = frozenset(line.line_number for line in event.lines
                                if line.flags.ack_overdue)
            new = overdue - self._overdue.get(key, frozenset())
            if new:
                self.ack_sla_breaches.labels(processor).inc(len(new))
            self._overdue[key] = overdue
            self._overdue.move_to_end(key)
            if len(self._overdue) > 100_000:
                self._overdue.popitem(last=False)

    def observe_lag(self, processor: str, consumer: Any) -> None:
        """Lag of every assigned partition (watermarks from the broker; call it now and then)."""
        try:
            positions = consumer.position(consumer.assignment())
        except Exception:  # not assigned yet, or rebalancing: try again next time
            return
        for position in positions:
            if position.offset < 0:
                continue
            try:
                _low, high = consumer.get_watermark_offsets(position, timeout=1)
            except Exception:
                continue
            self.consumer_lag.labels(processor, position.topic, str(position.partition)).set(
                max(high - position.offset, 0))

    def serve(self, port: int) -> None:
        """Serve /metrics on ``port`` (0: do nothing)."""
        if port:
            start_http_server(port, registry=self.registry)


@dataclass
class RetryGate:
    """Pauses only the retry topic's partitions whose next record is not due yet."""

    pause: Callable[[list[TopicPartition]], None]
    resume: Callable[[list[TopicPartition]], None]
    paused: dict[tuple[str, int], float] = field(default_factory=dict)  # -> resume at (epoch s)

    def hold(self, topic: str, partition: int, until_ms: int) -> None:
        if (topic, partition) not in self.paused:
            self.pause([TopicPartition(topic, partition)])
        self.paused[(topic, partition)] = until_ms / 1000

    def release_due(self) -> None:
        now = time.time()
        for (topic, partition), at in list(self.paused.items()):
            if at <= now:
                del self.paused[(topic, partition)]
                self.resume([TopicPartition(topic, partition)])


class RecordStep:
    """The per-record work of a processor: decode, reduce with state, encode; errors as data."""

    def __init__(
        self,
        logic: ProcessorLogic,
        serde: AvroSerde,
        topics: ProcessorTopics,
        policy: retry.RetryPolicy,
        metrics: ProcessorMetrics,
        gate: RetryGate | None = None,
        clock_ms: Callable[[], int] = now_ms,
    ) -> None:
        self.logic = logic
        self.spec = logic.spec
        self.serde = serde
        self.topics = topics
        self.policy = policy
        self.metrics = metrics
        self.gate = gate
        self.clock_ms = clock_ms
        self.retry_topic = topics.name(self.spec.retry_topic)
        self._by_actual = {topics.name(name): name for name in self.spec.input_topics}
        self._outputs = {name: topics.topic(name) for name in self.spec.output_topics}
        self._inputs = {name: topics.topic(name) for name in self.spec.input_topics}

    # -- stage 1 (all processors): where a record stands -------------------------------------

    def source_of(self, envelope: Envelope) -> str | Emit | BackboneError:
        """The catalog topic to decode ``envelope`` as; an Emit when a retry is not due yet."""
        if envelope.topic != self.retry_topic:
            return self._by_actual.get(envelope.topic, envelope.topic)
        not_before = retry.not_before_of(envelope.headers)
        if not_before is not None and not_before > self.clock_ms():
            if self.gate is not None:
                self.gate.hold(envelope.topic, envelope.partition, not_before)
            self.metrics.child(self.metrics.events_out, self.spec.name, self.spec.retry_topic,
                               "requeued").inc()
            return Emit(self.spec.retry_topic, envelope.key, envelope.value, envelope.headers)
        original = retry.original_topic_of(envelope.headers)
        catalog = self.topics.catalog_name(original) if original else None
        if catalog not in self._inputs:
            return _NotOurs(
                f"record at {envelope.topic}[{envelope.partition}]@{envelope.offset} names "
                f"original topic {original!r}, which {self.spec.name} does not read; replay it "
                "to the processor that owns that topic"
            )
        return catalog

    def decode(self, catalog: str, envelope: Envelope) -> Event:
        return self.serde.deserialize(self._inputs[catalog], envelope.value)

    def route(self, envelope: Envelope) -> list[Envelope | Emit]:
        """Stage 1 of routed processors: the envelopes to re-key (poison pills keep their key)."""
        assert self.logic.route is not None
        self.metrics.child(self.metrics.events_in, self.spec.name, envelope.topic).inc()
        source = self.source_of(envelope)
        if isinstance(source, Emit):
            return [source]
        own_key = (envelope.key or b"").decode("utf-8", "replace")
        fallback: list[Envelope | Emit] = [_rekeyed(envelope, own_key)]
        if isinstance(source, BackboneError):
            return fallback  # stage 2 dead-letters it with full context
        try:
            keys = self.logic.route(source, self.decode(source, envelope))
        except Exception:
            return fallback
        return [*(_rekeyed(envelope, key) for key in dict.fromkeys(keys))]

    # -- stage 2: the stateful step -----------------------------------------------------------

    def process(self, envelope: Envelope, state: Any, *, counted: bool = True) -> list[Emit]:
        """Everything one input record turns into, state updated only on success."""
        started = time.perf_counter()
        metrics = self.metrics
        if counted:
            metrics.child(metrics.events_in, self.spec.name, envelope.topic).inc()
        source = self.source_of(envelope)
        if isinstance(source, Emit):
            return [source]
        stage = "decode"
        try:
            if isinstance(source, BackboneError):
                raise source
            event = self.decode(source, envelope)
            stage = "reduce"
            stored = state.get(STATE_KEY)
            new_state, outputs = self.logic.handle(envelope.route_key, source, event, stored)
            stage = "encode"
            emits = [self._encode(topic, output, envelope) for topic, output in outputs]
            if new_state is not stored and new_state != stored:
                # stored as JSON like Quix's own ``state.set``, but datetimes (RFC 3339) and
                # enums are allowed: a processor may keep a model's Python-mode dump as state
                # instead of paying for a JSON-mode dump on every record
                state.set_bytes(STATE_KEY, orjson.dumps(new_state, option=orjson.OPT_UTC_Z))
        except Exception as error:
            emits = [self._failure(envelope, source, error, stage)]
        for emit in emits:
            metrics.child(metrics.events_out, self.spec.name, emit.topic,
                          _outcome(emit, self.spec)).inc()
        metrics.child(metrics.latency, self.spec.name).observe(time.perf_counter() - started)
        return emits

    def _encode(self, topic: str, event: Event, envelope: Envelope) -> Emit:
        entry = self._outputs[topic]
        key = entry.key_for(event)
        correlation = _header(envelope.headers, CORRELATION_ID) or event.event_id.encode()
        headers: Headers = [
            ("event_id", event.event_id.encode()),
            (CORRELATION_ID, correlation),
            ("source_system", self.spec.name.encode()),
        ]
        # a derived event is a new span in its input's trace (a new trace when there is none)
        parent = _header(envelope.headers, "traceparent")
        headers.append(("traceparent", child_traceparent(
            parent.decode(errors="replace") if parent else None).encode()))
        self.metrics.output(self.spec.name, entry.name, event)
        return Emit(topic, None if key is None else key.encode(),
                    self.serde.serialize(entry, event), headers)

    def _failure(self, envelope: Envelope, source: str | BackboneError, error: BaseException,
                 stage: str) -> Emit:
        """A dead letter, or a retry for a transient failure with attempts left."""
        if isinstance(error, RegistryAuthError):
            # our credentials, not the record: stop with the registry's answer, file nothing
            raise error
        category = categorize(error)
        attempt = retry.attempt_of(envelope.headers) + 1
        now = self.clock_ms()
        original = source if isinstance(source, str) else envelope.topic
        decision = retry.decide(self.policy, category, attempt, now, random.random())
        if decision.retry:
            headers = retry.retry_headers(
                headers=envelope.headers, original_topic=self.topics.name(original),
                partition=envelope.partition, offset=envelope.offset,
                timestamp_ms=envelope.timestamp_ms, attempt=attempt,
                not_before_ms=decision.not_before_ms, first_failure_ms=now,
            )
            log.info("%s: transient failure on %s, %s", self.spec.name, original, decision.reason)
            return Emit(self.spec.retry_topic, envelope.key, envelope.value, headers)
        if category is Category.UNEXPECTED:
            log.exception("%s: unexpected failure at stage %s", self.spec.name, stage,
                          exc_info=error)
        key, value, headers = dead_letter_record(
            key=envelope.key, value=envelope.value, original_topic=self.topics.name(original),
            partition=envelope.partition, offset=envelope.offset,
            timestamp_ms=envelope.timestamp_ms, processor=self.spec.name, stage=stage,
            error=error, attempt=attempt, first_failure_ms=now,
            business_key=envelope.route_key or None,
            correlation_id=(_header(envelope.headers, CORRELATION_ID) or b"").decode(
                "utf-8", "replace") or None,
            headers=envelope.headers, last_failure_ms=now,
        )
        self.metrics.child(self.metrics.dead_letters, self.spec.name, category.value).inc()
        return Emit(self.spec.dlq_topic, key, value, headers)


class _NotOurs(BackboneError):
    """A retry-topic record whose original topic this processor does not read."""

    category = Category.MISSING_REFERENCE


def _rekeyed(envelope: Envelope, key: str) -> Envelope:
    return Envelope(envelope.topic, envelope.partition, envelope.offset, envelope.timestamp_ms,
                    envelope.key, envelope.value, envelope.headers, key)


def _header(headers: Iterable[tuple[str, bytes | None]], name: str) -> bytes | None:
    found = None
    for key, value in headers:
        if key == name:
            found = value
    return found


def _outcome(emit: Emit, spec: ProcessorSpec) -> str:
    if emit.topic == spec.dlq_topic:
        return "dead_letter"
    if emit.topic == spec.retry_topic:
        return "retry"
    return "output"


def _envelope_from_context(value: bytes | None, key: bytes | None, timestamp: int,
                           headers: Any) -> Envelope:
    ctx = message_context()
    return Envelope(
        ctx.topic, ctx.partition, ctx.offset, timestamp, key, value,
        [(name, raw if raw is not None else b"") for name, raw in headers or ()],
        (key or b"").decode("utf-8", "replace"),
    )


@dataclass(frozen=True)
class EngineOptions:
    """How a processor process runs (from settings; tests override topics and groups)."""

    kafka: KafkaClients | str
    consumer_group: str
    state_dir: Path
    commit_interval_s: float = 1.0
    retry_policy: retry.RetryPolicy = field(default_factory=retry.RetryPolicy)
    topics: ProcessorTopics = field(default_factory=ProcessorTopics)
    loglevel: Literal["CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"] | None = "WARNING"

    @classmethod
    def from_settings(cls, settings: Settings, spec: ProcessorSpec, kafka: KafkaClients | str,
                      **overrides: Any) -> EngineOptions:
        options = cls(
            kafka=kafka,
            consumer_group=f"{settings.processor_consumer_group_prefix}{spec.name}",
            state_dir=settings.processor_state_dir or settings.state_dir / "processors",
            commit_interval_s=settings.processor_commit_interval_s,
            retry_policy=retry.RetryPolicy(
                max_attempts=settings.retry_max_attempts,
                initial_delay_ms=settings.retry_initial_delay_ms,
                max_delay_ms=max(settings.retry_max_delay_ms, settings.retry_initial_delay_ms),
            ),
        )
        return dataclasses.replace(options, **overrides)


def build_application(
    logic: ProcessorLogic,
    serde: AvroSerde,
    options: EngineOptions,
    metrics: ProcessorMetrics | None = None,
) -> tuple[Application, RecordStep]:
    """The Quix application running ``logic`` with backbone's settings, ready for ``run``."""
    spec = logic.spec
    topics = options.topics
    app = Application(
        # the cluster and its security from the one place every client takes them
        broker_address=ConnectionConfig.from_librdkafka_dict(
            KafkaClients.of(options.kafka).common()),
        consumer_group=options.consumer_group,
        # Quix would pick a bare random transactional id; prefixed with the group, a secured
        # cluster can grant each processor its own ids only (backbone/acls.py)
        producer_extra_config={
            "transactional.id": f"{options.consumer_group}-{uuid.uuid4().hex}"},
        # a new processor starts from the beginning of its inputs: state is rebuilt from facts
        auto_offset_reset="earliest",
        processing_guarantee="exactly-once",
        commit_interval=options.commit_interval_s,
        state_dir=options.state_dir,
        use_changelog_topics=True,
        # never delete local state behind the operator's back (see the module docstring)
        auto_recover_from_source_offset_out_of_range=False,
        loglevel=options.loglevel,
        # the catalog (`backbone topics apply`) creates inputs and outputs; Quix still creates its
        # own changelog and repartition topics
        auto_create_topics=True,
        # the retry topic is concatenated to the inputs, which puts Quix in buffered polling:
        # each poll waits the whole timeout for a full batch unless the backlog fills it, so
        # with its 1 s default each idle poll would add up to a second of latency; 20 ms also
        # keeps the stall short when Quix pauses and resumes a partition whose buffer filled
        # (~5% of a backlog drain at 50 ms), for ~50 cheap empty polls a second when idle
        consumer_poll_timeout=0.02,
    )
    consumer = app._consumer
    gate = RetryGate(pause=consumer.pause, resume=consumer.resume)
    step = RecordStep(logic, serde, topics, options.retry_policy,
                      metrics or ProcessorMetrics(), gate)
    for name in (*spec.input_topics, *spec.output_topics):
        serde.prepare(topics.topic(name))

    def bytes_topic(name: str) -> Any:
        return app.topic(name, key_deserializer="bytes", value_deserializer="bytes",
                         key_serializer="bytes", value_serializer=_EmitSerializer())

    sources = [bytes_topic(topics.name(name)) for name in (*spec.input_topics, spec.retry_topic)]
    out = {name: bytes_topic(topics.name(name))
           for name in (*spec.output_topics, spec.dlq_topic, spec.retry_topic)}
    producer = app._producer  # Quix's own (transactional) producer, as to_topic would use

    def send(emits: list[Emit], timestamp: int) -> None:
        """Produce ``emits`` as to_topic does: in the checkpoint's transaction, stamped with
        the input record's timestamp."""
        for emit in emits:
            producer.produce(topic=out[emit.topic].name, key=emit.key, value=emit.value,
                             headers=emit.headers, timestamp=timestamp)
    sdf = app.dataframe(sources[0])
    for source in sources[1:]:
        sdf = sdf.concat(app.dataframe(source))
    if logic.route is not None:
        sdf = sdf.apply(_envelope_from_context, metadata=True)
        routed = sdf.apply(step.route, expand=True)
        # records not due yet go back to the retry topic straight away
        requeue = routed.filter(lambda item: isinstance(item, Emit))
        requeue.set_headers(lambda value, key, ts, headers: value.headers).to_topic(
            out[spec.retry_topic], key=lambda value: value.key)
        sdf = routed.filter(lambda item: isinstance(item, Envelope)).apply(
            lambda envelope: envelope.to_json()
        ).group_by(lambda data: data["r"], name="state-key", key_serializer="str",
                   key_deserializer="str")
        sdf = sdf.apply(Envelope.from_json)
        sdf.update(lambda envelope, key, timestamp, headers, state: send(
            step.process(envelope, state, counted=False), timestamp),
            stateful=True, metadata=True)
    else:
        # one Quix step from the raw record to its produced emits: each step, and to_topic's
        # row and serializer, cost several µs a record
        sdf.update(lambda value, key, timestamp, headers, state: send(
            step.process(_envelope_from_context(value, key, timestamp, headers), state),
            timestamp), stateful=True, metadata=True)
    if len(spec.input_topics) == 1:
        # concat() asks Quix to read its topics time-aligned (buffered, batch by batch), which
        # orders several inputs against each other by event time when catching up; with one
        # input there is nothing to align (a retried record is out of order by nature), and
        # plain polling costs less per record and adds no batch wait to latency
        app._dataframe_registry._requires_time_alignment = False
    app._dataframe_registry.register_periodic_task(gate.release_due)
    lag_due = [0.0]

    def observe_lag() -> None:
        # watermarks are a broker round trip: every 10 s is plenty for an alert on lag
        if time.monotonic() >= lag_due[0]:
            lag_due[0] = time.monotonic() + 10
            step.metrics.observe_lag(spec.name, consumer)

    app._dataframe_registry.register_periodic_task(observe_lag)
    return app, step


def run(app: Application, until_idle_s: float | None = None) -> None:
    """Run until stopped (SIGTERM/SIGINT) or, with ``until_idle_s``, until idle that long."""
    if until_idle_s:
        app.run(timeout=until_idle_s, collect=False)
    else:
        app.run()
