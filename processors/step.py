"""A processor's per-record work, free of Kafka: envelope, decode, handle, emits; errors as data.

:class:`RecordStep` turns one input record (an :class:`Envelope`: topic, partition, offset,
key, value, headers and the state key it is handled under) and the stored state of its key
into the records to produce (:class:`Emit`: outputs, a dead letter, or a retry), updating the
state only when the processor's ``handle`` returned. It never talks to Kafka: the engine
(processors/engine.py) feeds it records and produces what it returns in the exactly-once
transaction. The stages:

- ``source_of``: which catalog topic a record is decoded as (a record from the retry topic
  names its original topic; one not due yet goes straight back to the retry topic);
- ``route`` (processors whose state key is not the record key): the state keys a record
  concerns, each as its own re-keyed envelope;
- ``process``: decode, ``handle(state)``, encode; a failure becomes a retry (transient, with
  attempts left) or a dead letter.
"""

from __future__ import annotations

import base64
import logging
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from backbone.errors import BackboneError, Category, categorize
from backbone.events import Event
from backbone.headers import CORRELATION_ID, child_traceparent
from backbone.registry import RegistryAuthError
from backbone.serde import AvroSerde
from processors import retry
from processors.dead_letters import dead_letter_record, now_ms
from processors.metrics import OutputMetrics, ProcessorMetrics
from processors.spec import ProcessorSpec, ProcessorTopics

log = logging.getLogger(__name__)

Headers = list[tuple[str, bytes]]
# (state key, catalog topic, event, stored state) -> (new state, [(catalog topic, event)])
Handle = Callable[[str, str, Event, Any], tuple[Any, list[tuple[str, Event]]]]
# (catalog topic, event) -> the state keys the event concerns (empty: nothing to do)
Route = Callable[[str, Event], Sequence[str]]
# (retry topic, partition, not before, epoch ms) -> None: hold that partition until then
Hold = Callable[[str, int, int], None]

STATE_KEY = "state"


@dataclass(frozen=True)
class ProcessorLogic:
    """What makes one processor: its spec, its pure reducer and (optionally) its routing."""

    spec: ProcessorSpec
    handle: Handle
    route: Route | None = None
    # the processor's own metrics (e.g. order_fulfillment's acknowledgement SLA), if any
    output_metrics: OutputMetrics | None = None


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


class RecordStep:
    """The per-record work of a processor: decode, reduce with state, encode; errors as data."""

    def __init__(
        self,
        logic: ProcessorLogic,
        serde: AvroSerde,
        topics: ProcessorTopics,
        policy: retry.RetryPolicy,
        metrics: ProcessorMetrics,
        hold: Hold | None = None,
        clock_ms: Callable[[], int] = now_ms,
    ) -> None:
        self.logic = logic
        self.spec = logic.spec
        self.serde = serde
        self.topics = topics
        self.policy = policy
        self.metrics = metrics
        self.hold = hold
        if logic.output_metrics is not None:
            metrics.add_output_metrics(self.spec.name, logic.output_metrics)
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
            if self.hold is not None:
                self.hold(envelope.topic, envelope.partition, not_before)
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
