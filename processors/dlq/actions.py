"""What an operator does with dead letters: select, show, dry-run, replay, purge, audit trail.

The command line (`backbone dlq`, cli.py) and the console (`backbone console`) both call these
functions; they differ only in how they ask and print. Failures an operator can fix raise
:class:`OperatorError`, whose message says what to do.

Where to look (:class:`Scope`): named dead-letter topics, else the ``processor``'s, else every
catalog ``*.dlq.v1`` topic that exists (under ``<prefix>.`` when a topic prefix is given).
Records marked purged in the audit trail are hidden unless asked for.

Replay has one owner per run: a processor's dead letters go back through its retry topic
(replay.RetryTopic); a connector's or the webhook service's are mapped again by the current
code and the events published to their catalog topics or ``routes`` (replay.SourceRemap).
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from confluent_kafka import Consumer, Producer

from backbone.clients import KafkaClients
from backbone.dead_letters import format_time, now_ms
from backbone.headers import as_dict
from backbone.serde import AvroSerde
from backbone.settings import Settings
from backbone.topics import CATALOG, Topic, for_record
from connectors.replay import replayable
from processors.api import ProcessorTopics, owner_of, processor, processor_names
from processors.dlq import audit
from processors.dlq.dialects import DeadLetterMessage, read_dead_letter
from processors.dlq.reading import MissingTopicError, existing_topics, read_topics, reader
from processors.dlq.replay import (
    Decision,
    Destination,
    Prediction,
    ReplayOutcome,
    RetryTopic,
    SourceRemap,
    checkpoint_group,
    crashed_run_replays,
    decide,
    predict,
    replay,
)
from processors.dlq.selection import Selection
from producers.publisher import EventPublisher


class OperatorError(ValueError):
    """Something the operator asked for cannot be done as asked; ``str()`` says what to do."""


@dataclass(frozen=True)
class Scope:
    """Which dead-letter topics and audit trail an action works on."""

    topics: tuple[str, ...] = ()
    processor: str | None = None
    prefix: str | None = None
    audit_topic: str = audit.AUDIT_TOPIC

    def names(self) -> ProcessorTopics:
        """Topic names under the prefix (the processor's, else every processor's), catalog
        names without one."""
        if not self.prefix:
            return ProcessorTopics()
        specs = [processor(self.processor)] if self.processor else [
            processor(name) for name in processor_names()]
        return ProcessorTopics(MappingProxyType({
            name: f"{self.prefix}.{name}" for spec in specs for name in spec.all_topics}))

    def routes(self) -> dict[str, Topic]:
        """Under a prefix, where a source-side replay publishes each event type."""
        if not self.prefix:
            return {}
        routes = {}
        for entry in CATALOG:
            if entry.record:
                event_type = entry.record.rsplit(".", 1)[-1]
                target = for_record(event_type)
                routes[event_type] = replace(target, name=f"{self.prefix}.{target.name}")
        return routes

    def dead_letter_topics(self, present: Mapping[str, int]) -> list[str]:
        if self.topics:
            return list(dict.fromkeys(self.topics))
        if self.processor:
            return [self.names().name(processor(self.processor).dlq_topic)]
        catalog = [t.name for t in CATALOG if t.name.endswith(".dlq.v1")]
        names = [f"{self.prefix}.{name}" for name in catalog] if self.prefix else catalog
        found = [name for name in names if name in present]
        if not found:
            raise OperatorError("no dead-letter topics (*.dlq.v1) exist on this cluster: create "
                                "them with `backbone topics apply`, or name one")
        return found


@dataclass
class Loaded:
    """The dead letters an action works on, and what they were read from."""

    kafka: KafkaClients
    scope: Scope
    selection: Selection
    topics: list[str]
    partitions: dict[str, int]
    letters: list[DeadLetterMessage]
    ledger: audit.Ledger
    audit_exists: bool

    @property
    def names(self) -> ProcessorTopics:
        return self.scope.names()

    def describe(self) -> str:
        filters = {k: v for k, v in self.selection.describe().items() if v}
        described = ", ".join(f"{k}={v}" for k, v in filters.items()) or "no filters"
        return f"({described}) in {', '.join(self.topics)}"


def load(kafka: KafkaClients, scope: Scope, selection: Selection,
         include_purged: bool = False) -> Loaded:
    """Every dead letter of the scope that the selection matches, with the audit ledger."""
    consumer = reader(kafka)
    try:
        present = existing_topics(consumer)
        topics = scope.dead_letter_topics(present)
        audit_exists = scope.audit_topic in present
        ledger = audit.Ledger.from_values(
            m.value() for m in read_topics(consumer, [scope.audit_topic])
        ) if audit_exists else audit.Ledger()
        letters = [read_dead_letter(m) for m in read_topics(consumer, topics)]
    except MissingTopicError as error:
        raise OperatorError(str(error)) from None
    finally:
        consumer.close()
    letters = [
        letter for letter in letters
        if selection.matches(letter)
        and (include_purged or (letter.topic, letter.partition, letter.offset)
             not in ledger.purged)
    ]
    return Loaded(kafka, scope, selection, topics,
                  {t: present.get(t, 0) for t in topics}, letters, ledger, audit_exists)


def audit_trail(kafka: KafkaClients, audit_topic: str) -> list[dict[str, Any]]:
    """Every audit event (replays, purges), oldest first; [] when the topic does not exist."""
    consumer = reader(kafka)
    try:
        if audit_topic not in existing_topics(consumer):
            return []
        return audit.Ledger.from_values(
            m.value() for m in read_topics(consumer, [audit_topic])).events
    finally:
        consumer.close()


# --- one dead letter -------------------------------------------------------------------------


def _time(ms: int | None) -> str | None:
    return None if ms is None else format_time(ms)


def bytes_json(data: bytes | None) -> Any:
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(data).decode()}


def letter_json(letter: DeadLetterMessage, ledger: audit.Ledger) -> dict[str, Any]:
    """One dead letter as `dlq list --json` prints it."""
    record = letter.record
    return {
        "coordinates": letter.coordinates,
        "topic": letter.topic, "partition": letter.partition, "offset": letter.offset,
        "timestamp": _time(letter.timestamp_ms),
        "key": bytes_json(letter.key),
        "value_bytes": None if letter.value is None else len(letter.value),
        "dialect": letter.dialect,
        "stage": record.stage, "owner": record.owner, "step": record.step,
        "category": record.category,
        "failed_at": _time(letter.failed_at_ms),
        "location": record.location or None,
        "original": {"topic": record.original_topic, "partition": record.original_partition,
                     "offset": record.original_offset,
                     "timestamp": _time(record.original_timestamp_ms)},
        "source": dict(record.source) or None,
        "exception_class": record.exception_class,
        "exception_message": record.message,
        "attempt": record.attempt,
        "first_failure": _time(record.first_failure_ms),
        "last_failure": _time(record.last_failure_ms),
        "business_key": record.business_key, "correlation_id": record.correlation_id,
        "traceparent": record.traceparent,
        "replay_id": record.replay_id, "replay_count": record.replay_count,
        "replayed_here": ledger.replayed[(letter.topic, letter.partition, letter.offset)],
        "problems": letter.problems,
    }


def decoded_value(letter: DeadLetterMessage, names: ProcessorTopics, serde: AvroSerde) -> Any:
    """The value as its canonical event when it is one, else its text or escaped bytes."""
    if letter.value is None:
        return None
    original_topic = letter.record.original_topic
    if original_topic:
        try:
            entry = names.topic(names.catalog_name(original_topic))
            if entry.record:
                return serde.deserialize(entry, letter.value).to_json_dict()
        except Exception as error:  # shown as raw bytes below, with why
            reason = f"not decodable as the canonical event: {error}"
        else:
            reason = "topic carries no Avro record"
    elif replayable(letter.record):
        reason = f"the original input {letter.record.owner} could not map"
    else:
        reason = "no original topic to decode it as"
    try:
        return {"text": letter.value.decode("utf-8"), "note": reason}
    except UnicodeDecodeError:
        return {"hex": letter.value[:256].hex(), "base64": base64.b64encode(letter.value).decode(),
                "bytes": len(letter.value), "note": reason}


def document(letter: DeadLetterMessage, loaded: Loaded, serde: AvroSerde) -> dict[str, Any]:
    """One dead letter in full (`dlq show`): headers, stack, value decoded when possible."""
    result = letter_json(letter, loaded.ledger)
    result["stacktrace"] = letter.record.stacktrace
    result["headers"] = as_dict(letter.headers)
    result["purged"] = (letter.topic, letter.partition, letter.offset) in loaded.ledger.purged
    result["value"] = decoded_value(letter, loaded.names, serde)
    return result


def parse_where(where: str, topics: Sequence[str]) -> tuple[str | None, int, int]:
    """``<topic>:<partition>:<offset>``, ``<partition>:<offset>`` or ``<offset>``."""
    parts = where.rsplit(":", 2)
    try:
        if len(parts) == 3:
            return parts[0], int(parts[1]), int(parts[2])
        if len(parts) == 2:
            return None, int(parts[0]), int(parts[1])
        return None, 0, int(parts[0])
    except ValueError:
        raise OperatorError(
            f"{where!r} is not a dead-letter position: write <topic>:<partition>:<offset>, "
            f"<partition>:<offset> or <offset> (partition 0) of {', '.join(topics)}") from None


# --- replay ----------------------------------------------------------------------------------


def owner_of_selection(loaded: Loaded, named: str | None = None) -> str:
    """The one owner (processor, connector or webhook service) whose dead letters are replayed."""
    if named:
        return named
    owners = {spec.name for spec in (owner_of(t) for t in loaded.topics) if spec}
    owners |= {letter.record.owner for letter in loaded.letters if letter.record.owner != "?"}
    if len(owners) == 1:
        return owners.pop()
    raise OperatorError(
        "replay works on one owner's dead letters at a time: name it with --processor or "
        f"--owner (the selection has {', '.join(sorted(owners)) or 'none'})")


def predictions_for(loaded: Loaded, owner: str, serde: AvroSerde,
                    settings: Settings) -> list[Prediction]:
    """What replaying each selected dead letter would do with the code loaded now and the
    settings ``backbone process`` runs with (status mappings, tolerances)."""
    spec = processor(owner) if owner in processor_names() else None
    return predict(loaded.letters, spec, serde, loaded.names, settings)


@dataclass
class ReplayPlan:
    """What a replay would do, before it is confirmed."""

    owner: str
    destination: str
    decisions: list[Decision]
    max_replays: int
    force: bool
    recovered: list[audit.Coordinates] = field(default_factory=list)

    @property
    def todo(self) -> int:
        return self.decisions.count(Decision.REPLAY)

    def summary(self) -> str:
        return (f"{len(self.decisions)} selected: {self.todo} to replay to {self.destination}, "
                f"{self.decisions.count(Decision.ALREADY_REPLAYED)} already replayed"
                f"{'' if self.force else ' (skipped; force replays them again)'}, "
                f"{self.decisions.count(Decision.PARKED)} parked by the loop guard "
                f"({self.max_replays} replays)")


@dataclass
class ReplayResult:
    plan: ReplayPlan
    outcome: ReplayOutcome
    event: dict[str, Any]


def _retry_target(loaded: Loaded, owner: str) -> str:
    spec = processor(owner)
    target = loaded.names.name(spec.retry_topic)
    if target in loaded.topics or target in (loaded.names.name(t) for t in spec.input_topics):
        raise OperatorError(
            f"refusing to replay {', '.join(loaded.topics)} into {target}: replay goes to the "
            "processor's retry topic, never into a dead-letter or shared source topic")
    return target


def _checkpoint(kafka: KafkaClients, owner: str) -> Consumer:
    return Consumer(kafka.consumer(checkpoint_group(owner), **{"enable.partition.eof": True}))


def _plan(loaded: Loaded, owner: str, checkpoint: Consumer, max_replays: int,
          force: bool) -> ReplayPlan:
    if owner in processor_names():
        target = _retry_target(loaded, owner)
        present = existing_topics(checkpoint)
        if target not in present:
            raise OperatorError(f"retry topic {target} of {owner} does not exist: create it "
                                "with `backbone topics apply`")
        recovered = crashed_run_replays(checkpoint, loaded.ledger, loaded.topics,
                                        loaded.partitions, target, present[target])
    elif all(replayable(letter.record) for letter in loaded.letters):
        # A killed source replay is not looked for: its events carry the same idempotency
        # keys, so publishing them again is harmless.
        target, recovered = f"{owner}'s event topics (mapped again)", []
    else:
        raise OperatorError(f"{owner}'s dead letters cannot be replayed: only processors' and "
                            "source connectors' (wms-feed, erp-outbox, edi-x12, "
                            "carrier-webhooks) can")
    ledger = audit.Ledger(loaded.ledger.replayed.copy(), loaded.ledger.purged,
                          loaded.ledger.events)
    ledger.replayed.update(recovered)
    decisions = [decide(letter, ledger, max_replays, force) for letter in loaded.letters]
    return ReplayPlan(owner, target, decisions, max_replays, force, recovered)


def replay_plan(loaded: Loaded, owner: str, max_replays: int, force: bool) -> ReplayPlan:
    """What :func:`replay_selection` would do now (for a confirmation page)."""
    checkpoint = _checkpoint(loaded.kafka, owner)
    try:
        return _plan(loaded, owner, checkpoint, max_replays, force)
    finally:
        checkpoint.close()


def replay_selection(
    loaded: Loaded, *, owner: str, who: str, serde: AvroSerde, max_replays: int, force: bool,
    rate: float, reason: str | None, routes: Mapping[str, Topic] | None = None,
    confirm: Callable[[ReplayPlan], bool] = lambda plan: True,
    advance: Callable[[], None] = lambda: None,
) -> ReplayResult | None:
    """Replay the selection, checkpointed and audited; None when ``confirm`` said no."""
    if not loaded.audit_exists:
        raise OperatorError(f"audit topic {loaded.scope.audit_topic} does not exist: create it "
                            "with `backbone topics apply` (every replay is audited)")
    checkpoint = _checkpoint(loaded.kafka, owner)
    try:
        plan = _plan(loaded, owner, checkpoint, max_replays, force)
        loaded.ledger.replayed.update(plan.recovered)
        if plan.todo and not confirm(plan):
            return None
        producer = Producer(loaded.kafka.producer())
        destination: Destination
        publisher = None
        if owner in processor_names():
            destination = RetryTopic(producer, plan.destination)
        else:
            publisher = EventPublisher(loaded.kafka, serde, producer=producer)
            destination = SourceRemap(publisher, routes, plan.destination)
        started = now_ms()
        outcome = replay(loaded.letters, ledger=loaded.ledger, destination=destination,
                         checkpoint=checkpoint, max_replays=max_replays, force=force,
                         rate=rate, started_ms=started, advance=advance)
        event = audit.audit_event(
            action="replay", replay_id=outcome.replay_id, who=who, at_ms=started,
            status="interrupted" if outcome.interrupted else "completed",
            processor=owner, source_topics=loaded.topics, target_topic=plan.destination,
            filters=loaded.selection.describe(), counts=outcome.counts(len(plan.decisions)),
            done=outcome.replayed, parked=outcome.parked, force=force, reason=reason,
        )
        audit.publish(producer, loaded.scope.audit_topic, event)
    finally:
        checkpoint.close()
    return ReplayResult(plan, outcome, event)


def purge(loaded: Loaded, *, who: str, reason: str | None) -> dict[str, Any]:
    """Mark the selection purged in the audit trail (Kafka cannot delete single records)."""
    if not loaded.audit_exists:
        raise OperatorError(f"audit topic {loaded.scope.audit_topic} does not exist: create it "
                            "with `backbone topics apply`")
    purge_id = f"purge-{uuid.uuid4().hex[:12]}"
    event = audit.audit_event(
        action="purge", replay_id=purge_id, who=who, at_ms=int(time.time() * 1000),
        status="completed", processor=loaded.selection.owner or loaded.scope.processor,
        source_topics=loaded.topics, target_topic=None, filters=loaded.selection.describe(),
        counts={"selected": len(loaded.letters), "purged": len(loaded.letters)},
        done=[(x.topic, x.partition, x.offset) for x in loaded.letters], reason=reason,
    )
    audit.publish(Producer(loaded.kafka.producer()), loaded.scope.audit_topic, event)
    return event
