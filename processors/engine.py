"""The processors' Quix wiring: one Quix Streams application per processor, exactly once.

Every processor is a pure reducer (``ProcessorLogic.handle``, run per record by
:class:`processors.step.RecordStep`) in the same pipeline:

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

Commits: outputs become visible to read_committed readers when the transaction commits; see
:class:`IdleCommit` for when that is. Quix internals are reached only through
:mod:`processors.quix_adapter`.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from confluent_kafka import TopicPartition
from quixstreams import Application, message_context
from quixstreams.kafka.configuration import ConnectionConfig
from quixstreams.models.serializers import Serializer

from backbone.clients import KafkaClients
from backbone.serde import AvroSerde
from backbone.settings import Settings
from processors import quix_adapter, retry
from processors.commit_watchdog import GRACE_S, CommitWatchdog
from processors.durable_topics import durable_topic_manager
from processors.metrics import ProcessorMetrics
from processors.spec import ProcessorSpec, ProcessorTopics
from processors.step import Emit, Envelope, ProcessorLogic, RecordStep

STREAM_ID = "inputs"


class _EmitSerializer(Serializer):
    """Output topics get the Emit's bytes as they are (the step encoded them already)."""

    def __call__(self, *args: Any, **kwargs: Any) -> str | bytes:
        emit: Emit = args[0]
        return emit.value  # type: ignore[return-value]  # None is a tombstone, never emitted


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


def envelope_from_context(value: bytes | None, key: bytes | None, timestamp: int,
                          headers: Any) -> Envelope:
    """The record Quix is processing now, as the step's :class:`Envelope`."""
    ctx = message_context()
    return Envelope(
        ctx.topic, ctx.partition, ctx.offset, timestamp, key, value,
        [(name, raw if raw is not None else b"") for name, raw in headers or ()],
        (key or b"").decode("utf-8", "replace"),
    )


IDLE_POLL_S = 0.002


class IdleCommit:
    """Commits the open transaction as soon as the inputs run dry and it is ``after_s`` old.

    Outputs become visible to read_committed readers only when the exactly-once transaction
    commits. While a backlog is being worked off, Quix commits every ``commit_interval`` (few,
    large transactions: throughput); once a poll comes back empty the processor has caught up,
    and waiting out the interval would only delay what it wrote, so this commits then, at most
    every ``after_s`` (a live stream: many small transactions, fresh output).
    """

    def __init__(self, after_s: float) -> None:
        self.after_s = after_s
        self.commit: Callable[[], None] = lambda: None
        self._busy = False
        self._pending_since: float | None = None

    def processed(self, topic: str, partition: int, offset: int) -> None:
        """Quix's ``on_message_processed``: a record is in the open transaction."""
        self._busy = True
        if self._pending_since is None:
            self._pending_since = time.monotonic()

    def tick(self) -> None:
        """Once per poll (a periodic task): commit if this poll found nothing and it is time."""
        if self._busy:
            self._busy = False
            return
        pending = self._pending_since
        if pending is not None and time.monotonic() - pending >= self.after_s:
            self._pending_since = None
            self.commit()


@dataclass(frozen=True)
class EngineOptions:
    """How a processor process runs (from settings; tests override topics and groups)."""

    kafka: KafkaClients | str
    consumer_group: str
    state_dir: Path
    commit_interval_s: float = 1.0
    idle_commit_s: float = 0.01
    commit_every: int = 0
    session_timeout_ms: int = 45_000
    instance_id: str | None = None
    fetch_wait_ms: int = 10
    linger_ms: float = 5.0
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
            idle_commit_s=settings.processor_idle_commit_s,
            commit_every=settings.processor_commit_every,
            session_timeout_ms=settings.processor_session_timeout_ms,
            instance_id=settings.processor_instance_id,
            fetch_wait_ms=settings.processor_fetch_wait_ms,
            linger_ms=settings.processor_linger_ms,
            retry_policy=retry.RetryPolicy(
                max_attempts=settings.retry_max_attempts,
                initial_delay_ms=settings.retry_initial_delay_ms,
                max_delay_ms=max(settings.retry_max_delay_ms, settings.retry_initial_delay_ms),
            ),
        )
        return dataclasses.replace(options, **overrides)


def transaction_timeout_ms(commit_interval_s: float) -> int:
    """How long the broker keeps a processor's transaction open without news (ms).

    At least 30 s: librdkafka caps ``message.timeout.ms`` at this value, and a record whose
    partition leader died must outlive the failover (KRaft fences a broker after 9 s, more on
    a loaded host); at 10 s order-fulfillment's changelog records timed out during a leader
    kill, failing the transaction and stopping the process (tests/reliability/README.md)."""
    return max(30_000, int(commit_interval_s * 5_000))


def silent_broker_timeouts(commit_interval_s: float) -> dict[str, int]:
    """Client settings that notice a broker gone silent in time (ms); the producer also
    takes ``socket.timeout.ms`` as its ``request.timeout.ms`` (a producer-only property).

    A leader or coordinator that stops answering without closing its connections (SIGSTOP, a
    frozen VM) holds every request sent to it until the request's timeout, and the client
    learns the new leaders only from a metadata refresh. At librdkafka's defaults (30 s
    produce, 60 s other requests, metadata every 5 min) the records hit
    ``message.timeout.ms`` (capped at the transaction timeout, 30 s) first, the transaction
    failed and the processor stopped (tests/reliability, the grey-failure cell). A third of the
    transaction timeout per request (10 s at the 30 s floor) and metadata every 5 s leave room
    for the ~9 s in which KRaft fences the silent broker plus one retry on the new leader."""
    return {"socket.timeout.ms": transaction_timeout_ms(commit_interval_s) // 3,
            "topic.metadata.refresh.interval.ms": 5_000}


def group_membership(options: EngineOptions) -> dict[str, str | int]:
    """The consumer's group settings: how soon a dead instance's partitions move
    (``session.timeout.ms``) and, with an instance id, static membership, so a restarted
    instance rejoins with its partitions at once instead of after a rebalance."""
    config: dict[str, str | int] = {"session.timeout.ms": options.session_timeout_ms}
    if options.instance_id:
        config["group.instance.id"] = options.instance_id
    return config


def build_application(
    logic: ProcessorLogic,
    serde: AvroSerde,
    options: EngineOptions,
    metrics: ProcessorMetrics | None = None,
) -> tuple[Application, RecordStep]:
    """The Quix application running ``logic`` with backbone's settings, ready for ``run``."""
    spec = logic.spec
    topics = options.topics
    commit_policy = IdleCommit(options.idle_commit_s)
    app = Application(
        # the cluster and its security from the one place every client takes them
        broker_address=ConnectionConfig.from_librdkafka_dict(
            KafkaClients.of(options.kafka).common()),
        consumer_group=options.consumer_group,
        # Quix would pick a bare random transactional id; prefixed with the group, a secured
        # cluster can grant each processor its own ids only (backbone/acls.py)
        producer_extra_config={
            "transactional.id": f"{options.consumer_group}-{uuid.uuid4().hex}",
            # a killed instance's open transaction holds back what read_committed readers see
            # until the broker aborts it after this timeout (librdkafka's default: 60 s, a
            # minute without new output after every crash, tests/reliability/README.md); a
            # transaction lives at most one commit interval plus its flush, so 5 intervals
            # (at least 30 s, see transaction_timeout_ms) leave ample headroom
            "transaction.timeout.ms": transaction_timeout_ms(options.commit_interval_s),
            **silent_broker_timeouts(options.commit_interval_s),
            "request.timeout.ms": silent_broker_timeouts(
                options.commit_interval_s)["socket.timeout.ms"],
            # every commit flushes the producer first: its linger is paid once per commit
            "linger.ms": options.linger_ms},
        # librdkafka holds an empty fetch up to 500 ms; a re-keying processor's repartition
        # records become readable only when the first transaction commits, so a short wait is
        # what lets the second stage see them at once (the latency bench, bench/README.md)
        consumer_extra_config={"fetch.wait.max.ms": options.fetch_wait_ms,
                               **silent_broker_timeouts(options.commit_interval_s),
                               **group_membership(options)},
        # a new processor starts from the beginning of its inputs: state is rebuilt from facts
        auto_offset_reset="earliest",
        processing_guarantee="exactly-once",
        commit_interval=options.commit_interval_s,
        commit_every=options.commit_every,
        on_message_processed=commit_policy.processed,
        state_dir=options.state_dir,
        use_changelog_topics=True,
        # never delete local state behind the operator's back (see the module docstring)
        auto_recover_from_source_offset_out_of_range=False,
        loglevel=options.loglevel,
        # the catalog (`backbone topics apply`) creates inputs and outputs; Quix still creates its
        # own changelog and repartition topics
        auto_create_topics=True,
        # an empty poll is how the engine sees that it has caught up (IdleCommit), so a poll
        # waits no longer than the gap between two fetched batches of a live stream; buffered
        # polling (several inputs) waits the whole timeout for a full batch too. The price:
        # ~500 cheap empty polls a second when there is nothing to do
        consumer_poll_timeout=IDLE_POLL_S,
        # changelog and repartition topics replicated like the catalog's, not with RF 1
        topic_manager=durable_topic_manager(options.kafka, options.consumer_group),
    )
    consumer = quix_adapter.consumer(app)
    gate = RetryGate(pause=consumer.pause, resume=consumer.resume)
    step = RecordStep(logic, serde, topics, options.retry_policy,
                      metrics or ProcessorMetrics(), gate.hold)
    for name in (*spec.input_topics, *spec.output_topics):
        serde.prepare(topics.topic(name))

    def bytes_topic(name: str) -> Any:
        return app.topic(name, key_deserializer="bytes", value_deserializer="bytes",
                         key_serializer="bytes", value_serializer=_EmitSerializer())

    sources = [bytes_topic(topics.name(name)) for name in (*spec.input_topics, spec.retry_topic)]
    out = {name: bytes_topic(topics.name(name))
           for name in (*spec.output_topics, spec.dlq_topic, spec.retry_topic)}
    producer = quix_adapter.producer(app)

    def send(emits: list[Emit], timestamp: int) -> None:
        """Produce ``emits`` as to_topic does: in the checkpoint's transaction, stamped with
        the input record's timestamp."""
        for emit in emits:
            producer.produce(topic=out[emit.topic].name, key=emit.key, value=emit.value,
                             headers=emit.headers, timestamp=timestamp)
    sdf = app.dataframe(sources[0])
    for source in sources[1:]:
        sdf = sdf.concat(app.dataframe(source))
    # Quix names a stream after its topics (all of them, joined with "--"), and its changelog
    # and repartition topics after the stream; named "inputs", they stay short and readable:
    # changelog__<group>--inputs--default, repartition__<group>--inputs--state-key. Topics
    # under a prefix get "<prefix>.inputs": the same group on other topics (staging beside
    # production) must not share a changelog.
    sdf = quix_adapter.named_stream(
        sdf, f"{topics.prefix}.{STREAM_ID}" if topics.prefix else STREAM_ID)
    if logic.route is not None:
        sdf = sdf.apply(envelope_from_context, metadata=True)
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
            step.process(envelope_from_context(value, key, timestamp, headers), state),
            timestamp), stateful=True, metadata=True)
    if len(spec.input_topics) == 1:
        # concat() asks Quix to read its topics time-aligned (buffered, batch by batch), which
        # orders several inputs against each other by event time when catching up; with one
        # input there is nothing to align (a retried record is out of order by nature), and
        # plain polling costs less per record and adds no batch wait to latency
        quix_adapter.read_unaligned(app)
    quix_adapter.on_every_poll(app, gate.release_due)
    if options.idle_commit_s < options.commit_interval_s:
        commit_policy.commit = quix_adapter.commit_now(app)
        quix_adapter.on_every_poll(app, commit_policy.tick)
    lag_due = [0.0]

    def observe_lag() -> None:
        # watermarks are a broker round trip: every 10 s is plenty for an alert on lag
        if time.monotonic() >= lag_due[0]:
            lag_due[0] = time.monotonic() + 10
            step.metrics.observe_lag(spec.name, consumer)

    quix_adapter.on_every_poll(app, observe_lag)
    return app, step


def stuck_commit_s(options: EngineOptions) -> float:
    """How long a commit may run before it is taken for stuck: past the transaction timeout
    it can no longer succeed (processors/commit_watchdog.py)."""
    return transaction_timeout_ms(options.commit_interval_s) / 1000 + GRACE_S


def run(app: Application, until_idle_s: float | None = None,
        stuck_commit_after_s: float | None = None) -> None:
    """Run until stopped (SIGTERM/SIGINT) or, with ``until_idle_s``, until idle that long.

    With ``stuck_commit_after_s`` (a processor process of its own: ``backbone process``), a
    commit still running after that long restarts the process in place (CommitWatchdog).
    """
    if stuck_commit_after_s is not None:
        watchdog = CommitWatchdog(stuck_commit_after_s)
        quix_adapter.around_commits(app, watchdog.guard)
        watchdog.start()
    if until_idle_s:
        app.run(timeout=until_idle_s, collect=False)
    else:
        app.run()
