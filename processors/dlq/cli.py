"""``backbone dlq list | show | stats | replay | purge``: dead letters for operators.

Every command reads the dead-letter topics named by ``--topic`` (default: the ``--processor``'s
dead-letter topic, else every catalog ``*.dlq.v1`` topic that exists) and takes the same filters
(processors/dlq/selection.py). Records marked purged in the audit trail are hidden. Foreign dead
letters (Kafka Connect, Spring Kafka, Kafka Streams, Karafka headers) are read too.
``--topic-prefix P`` renames every topic of the processor to ``P.<catalog name>`` (fresh topics
for tests and rehearsals); ``--audit-topic`` moves the audit trail likewise.
"""

from __future__ import annotations

import base64
import json
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import typer
from confluent_kafka import Consumer, Producer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress
from rich.table import Column, Table

from backbone.cli.context import endpoints
from backbone.cli.exits import PARTIAL, fail
from backbone.clients import Endpoints, KafkaClients
from backbone.headers import as_dict
from backbone.serde import AvroSerde
from backbone.settings import Settings, load_settings
from backbone.topics import CATALOG
from processors import dead_letters as dl
from processors.api import ProcessorSpec, ProcessorTopics, owner_of, processor
from processors.dlq import audit
from processors.dlq.reading import MissingTopicError, existing_topics, read_topics, reader
from processors.dlq.replay import (
    Decision,
    checkpoint_group,
    crashed_run_replays,
    decide,
    predict,
    replay,
)
from processors.dlq.selection import (
    Selection,
    SelectionError,
    iso,
    parse_categories,
    parse_offsets,
    parse_time,
    stats,
)

app = typer.Typer(help="Inspect, replay and purge dead letters.", no_args_is_help=True)

PROCESSOR = typer.Option(None, "--processor", "-p", help="Owning processor, e.g. shipment-status.")
TOPIC = typer.Option(None, "--topic", "-t", help="Dead-letter topic (repeatable).")
CATEGORY = typer.Option(None, "--category", "-c", help="Error category (repeatable or a,b).")
SINCE = typer.Option(None, "--since", help="Failed at/after: ISO-8601 or 30m, 2h, 7d.")
UNTIL = typer.Option(None, "--until", help="Failed at/before: ISO-8601 or 30m, 2h, 7d.")
KEY = typer.Option(None, "--key-contains", "-k", help="Text in the record or business key.")
OFFSETS = typer.Option(None, "--offsets", help="Dead-letter offsets, e.g. 0:10-20,1:5-.")
PREFIX = typer.Option(None, "--topic-prefix", help="Use <prefix>.<catalog name> topics.")
AUDIT = typer.Option(audit.AUDIT_TOPIC, "--audit-topic", help="Where the audit trail is.")
JSON = typer.Option(False, "--json", help="Machine-readable output.")


@dataclass
class Loaded:
    """The dead letters a command works on, and what it read them from."""

    settings: Settings
    kafka: KafkaClients
    selection: Selection
    topics: list[str]
    partitions: dict[str, int]
    letters: list[dl.DeadLetter]
    ledger: audit.Ledger
    audit_exists: bool
    names: ProcessorTopics


def _selection(processor_name: str | None, category: list[str] | None, since: str | None,
               until: str | None, key: str | None, offsets: str | None) -> Selection:
    now = dl.now_ms()
    try:
        if processor_name:
            processor(processor_name)
        return Selection(
            processor=processor_name,
            categories=parse_categories(category or []),
            since_ms=parse_time("--since", since, now) if since else None,
            until_ms=parse_time("--until", until, now) if until else None,
            key_contains=key or None,
            offsets=parse_offsets(offsets) if offsets else (),
        )
    except (SelectionError, KeyError) as error:
        fail(str(error.args[0]))


def _names(processor_name: str | None, prefix: str | None) -> ProcessorTopics:
    if not prefix:
        return ProcessorTopics()
    if not processor_name:
        fail("--topic-prefix renames one processor's topics: name it with --processor")
    return ProcessorTopics.prefixed(processor(processor_name), prefix)


def _load(processor_name: str | None, topic: list[str] | None, category: list[str] | None,
          since: str | None, until: str | None, key: str | None, offsets: str | None,
          prefix: str | None, audit_topic: str, include_purged: bool = False) -> Loaded:
    selection = _selection(processor_name, category, since, until, key, offsets)
    names = _names(processor_name, prefix)
    settings = load_settings()
    kafka = endpoints(settings).kafka
    consumer = reader(kafka)
    try:
        present = existing_topics(consumer)
        if topic:
            topics = list(dict.fromkeys(topic))
        elif processor_name:
            topics = [names.name(processor(processor_name).dlq_topic)]
        else:
            topics = [t.name for t in CATALOG if t.name.endswith(".dlq.v1") and t.name in present]
            if not topics:
                fail("no dead-letter topics (*.dlq.v1) exist on this cluster: create them with "
                     "`backbone topics apply`, or name one with --topic")
        audit_exists = audit_topic in present
        ledger = audit.Ledger.from_values(
            m.value() for m in read_topics(consumer, [audit_topic])
        ) if audit_exists else audit.Ledger()
        letters = [dl.read_dead_letter(m) for m in read_topics(consumer, topics)]
    except MissingTopicError as error:
        fail(str(error))
    finally:
        consumer.close()
    letters = [
        letter for letter in letters
        if selection.matches(letter)
        and (include_purged or (letter.topic, letter.partition, letter.offset)
             not in ledger.purged)
    ]
    return Loaded(settings, kafka, selection, topics,
                  {t: present.get(t, 0) for t in topics}, letters, ledger, audit_exists, names)


def _say_nothing_matched(loaded: Loaded) -> None:
    filters = {k: v for k, v in loaded.selection.describe().items() if v}
    described = ", ".join(f"{k}={v}" for k, v in filters.items()) or "no filters"
    print(f"backbone: no dead letters match ({described}) in {', '.join(loaded.topics)}",
          file=sys.stderr)


def _bytes_json(data: bytes | None) -> Any:
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(data).decode()}


def _letter_json(letter: dl.DeadLetter, ledger: audit.Ledger) -> dict[str, Any]:
    return {
        "coordinates": letter.coordinates,
        "topic": letter.topic, "partition": letter.partition, "offset": letter.offset,
        "timestamp": iso(letter.timestamp_ms) if letter.timestamp_ms is not None else None,
        "key": _bytes_json(letter.key),
        "value_bytes": None if letter.value is None else len(letter.value),
        "dialect": letter.dialect,
        "original": {"topic": letter.original_topic, "partition": letter.original_partition,
                     "offset": letter.original_offset,
                     "timestamp": None if letter.original_timestamp_ms is None
                     else iso(letter.original_timestamp_ms)},
        "processor": letter.processor, "stage": letter.stage, "category": letter.category,
        "exception_class": letter.exception_class,
        "exception_message": letter.exception_message,
        "attempt": letter.attempt,
        "first_failure": None if letter.first_failure_ms is None else iso(letter.first_failure_ms),
        "last_failure": None if letter.last_failure_ms is None else iso(letter.last_failure_ms),
        "business_key": letter.business_key, "correlation_id": letter.correlation_id,
        "replay_id": letter.replay_id, "replay_count": letter.replay_count,
        "replayed_here": ledger.replayed[(letter.topic, letter.partition, letter.offset)],
        "problems": letter.problems,
    }


def _short(text: str | None, width: int) -> str:
    text = (text or "").replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


@app.command("list")
def list_letters(
    processor_name: str | None = PROCESSOR, topic: list[str] | None = TOPIC,
    category: list[str] | None = CATEGORY, since: str | None = SINCE, until: str | None = UNTIL,
    key: str | None = KEY, offsets: str | None = OFFSETS, prefix: str | None = PREFIX,
    audit_topic: str = AUDIT, json_output: bool = JSON,
    include_purged: bool = typer.Option(False, "--include-purged", help="Show purged too."),
) -> None:
    """The selected dead letters, oldest first per partition."""
    loaded = _load(processor_name, topic, category, since, until, key, offsets, prefix,
                   audit_topic, include_purged)
    if not loaded.letters:
        _say_nothing_matched(loaded)
        return
    if json_output:
        for letter in loaded.letters:
            print(json.dumps(_letter_json(letter, loaded.ledger)))
        return
    table = Table("failed at", "processor", "category", "key", "original", "replays", "error")
    table.columns.insert(0, Column("where", no_wrap=True))
    for letter in loaded.letters:
        failed = letter.failed_at_ms
        original = (f"{letter.original_topic}:{letter.original_partition}:"
                    f"{letter.original_offset}" if letter.original_topic else "?")
        replays = letter.replay_count + loaded.ledger.replayed[
            (letter.topic, letter.partition, letter.offset)]
        error = letter.exception_message or ""
        if letter.problems:
            error = f"[unreadable: {'; '.join(letter.problems)}] {error}"
        table.add_row(
            escape(letter.coordinates), iso(failed)[:19] if failed else "?",
            escape(letter.processor or "?"), escape(letter.category or "?"),
            escape(_short((letter.key or b"").decode("utf-8", "replace"), 30)),
            escape(_short(original, 50)), str(replays), escape(_short(error, 70)),
        )
    Console(width=200).print(table)
    print(f"{len(loaded.letters)} dead letter(s)", file=sys.stderr)


def _parse_where(where: str, topics: Sequence[str]) -> tuple[str | None, int, int]:
    parts = where.rsplit(":", 2)
    try:
        if len(parts) == 3:
            return parts[0], int(parts[1]), int(parts[2])
        if len(parts) == 2:
            return None, int(parts[0]), int(parts[1])
        return None, 0, int(parts[0])
    except ValueError:
        fail(f"{where!r} is not a dead-letter position: write <topic>:<partition>:<offset>, "
             f"<partition>:<offset> or <offset> (partition 0) of {', '.join(topics)}")


def _decoded_value(letter: dl.DeadLetter, names: ProcessorTopics, where: Endpoints) -> Any:
    if letter.value is None:
        return None
    if letter.original_topic:
        try:
            entry = names.topic(names.catalog_name(letter.original_topic))
            if entry.record:
                with where.registry() as registry:
                    return AvroSerde(registry).deserialize(entry, letter.value).to_json_dict()
        except (KeyError, Exception) as error:  # shown as raw bytes below, with why
            reason = f"not decodable as the canonical event: {error}"
        else:
            reason = "topic carries no Avro record"
    else:
        reason = "no original topic to decode it as"
    try:
        return {"text": letter.value.decode("utf-8"), "note": reason}
    except UnicodeDecodeError:
        return {"hex": letter.value[:256].hex(), "base64": base64.b64encode(letter.value).decode(),
                "bytes": len(letter.value), "note": reason}


@app.command()
def show(
    where: str = typer.Argument(..., help="<topic>:<partition>:<offset>, <partition>:<offset> "
                                          "or <offset>."),
    processor_name: str | None = PROCESSOR, topic: list[str] | None = TOPIC,
    prefix: str | None = PREFIX, audit_topic: str = AUDIT, json_output: bool = JSON,
) -> None:
    """One dead letter in full: headers, key, value (as the canonical event when possible)."""
    names = _names(processor_name, prefix)
    default_topics = topic or ([names.name(processor(processor_name).dlq_topic)]
                               if processor_name else [])
    named, partition, offset = _parse_where(where, default_topics)
    wanted = named or (default_topics[0] if len(default_topics) == 1 else None)
    if wanted is None:
        fail(f"{where!r} does not say which dead-letter topic: write <topic>:<partition>:<offset>"
             " or give --topic / --processor")
    loaded = _load(processor_name, [wanted], None, None, None, None, f"{partition}:{offset}",
                   prefix, audit_topic, include_purged=True)
    if not loaded.letters:
        fail(f"no dead letter at {wanted}:{partition}:{offset} (offset out of range or deleted "
             "by retention); `backbone dlq list --topic {wanted}` shows what is there")
    letter = loaded.letters[0]
    document = _letter_json(letter, loaded.ledger)
    document["stacktrace"] = letter.stacktrace
    document["headers"] = as_dict(letter.headers)
    document["purged"] = (letter.topic, letter.partition, letter.offset) in loaded.ledger.purged
    document["value"] = _decoded_value(letter, names,
                                       endpoints(loaded.settings))
    if json_output:
        print(json.dumps(document, indent=2, default=str))
        return
    console = Console(width=160)
    for name, value in document.items():
        if isinstance(value, dict | list):
            console.print(f"[bold]{name}[/bold]:")
            console.print_json(json.dumps(value, default=str))
        else:
            console.print(f"[bold]{name}[/bold]: {escape(str(value))}")


@app.command("stats")
def stats_command(
    processor_name: str | None = PROCESSOR, topic: list[str] | None = TOPIC,
    category: list[str] | None = CATEGORY, since: str | None = SINCE, until: str | None = UNTIL,
    key: str | None = KEY, offsets: str | None = OFFSETS, prefix: str | None = PREFIX,
    audit_topic: str = AUDIT, json_output: bool = JSON,
) -> None:
    """Counts by category, processor and hour of failure."""
    loaded = _load(processor_name, topic, category, since, until, key, offsets, prefix,
                   audit_topic)
    if not loaded.letters:
        _say_nothing_matched(loaded)
    result = stats(loaded.letters)
    if json_output:
        print(json.dumps(result.to_json_dict()))
        return
    console = Console(width=120)
    for title, counter in (("category", result.by_category), ("processor", result.by_processor),
                           ("hour (UTC)", result.by_hour), ("topic", result.by_topic)):
        table = Table(title, "dead letters")
        for name, count in sorted(counter.items()):
            table.add_row(escape(name), str(count))
        console.print(table)
    console.print(f"total: {result.total}")


def _owning_processor(processor_name: str | None, loaded_topics: Sequence[str],
                      letters: Sequence[dl.DeadLetter]) -> ProcessorSpec:
    if processor_name:
        return processor(processor_name)
    owners = {spec.name for spec in (owner_of(t) for t in loaded_topics) if spec}
    owners |= {letter.processor for letter in letters if letter.processor}
    if len(owners) == 1:
        try:
            return processor(owners.pop())
        except KeyError:
            pass
    fail("replay needs the one processor whose retry topic receives the records: name it with "
         f"--processor (the selection names {', '.join(sorted(owners)) or 'none'})")


def _confirm(question: str, yes: bool, what: str) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        fail(f"refusing to {what} without confirmation: no terminal to ask on; pass --yes")
    if not typer.confirm(question):
        fail(f"{what} cancelled", code=PARTIAL)


@contextmanager
def _progress(total: int) -> Iterator[Any]:
    console = Console(stderr=True)
    with Progress(console=console, disable=not console.is_terminal, transient=False) as bar:
        task = bar.add_task("replaying", total=total)
        yield lambda: bar.advance(task)


@app.command("replay")
def replay_command(
    processor_name: str | None = PROCESSOR, topic: list[str] | None = TOPIC,
    category: list[str] | None = CATEGORY, since: str | None = SINCE, until: str | None = UNTIL,
    key: str | None = KEY, offsets: str | None = OFFSETS, prefix: str | None = PREFIX,
    audit_topic: str = AUDIT, json_output: bool = JSON,
    dry_run: bool = typer.Option(False, "--dry-run", help="Predict; produce nothing."),
    rate: float | None = typer.Option(None, "--rate", help="Records per second (0: no limit)."),
    force: bool = typer.Option(False, "--force", help="Replay records replayed before too."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    reason: str | None = typer.Option(None, "--reason", help="Why (ticket), kept in the audit."),
    max_replays: int | None = typer.Option(None, "--max-replays",
                                           help="Loop guard (default BACKBONE_DLQ_REPLAY_MAX)."),
) -> None:
    """Send dead letters back through their processor's retry topic, once, audited."""
    loaded = _load(processor_name, topic, category, since, until, key, offsets, prefix,
                   audit_topic)
    spec = _owning_processor(processor_name, loaded.topics, loaded.letters)
    names = loaded.names
    target = names.name(spec.retry_topic)
    if target in loaded.topics or target in (names.name(t) for t in spec.input_topics):
        fail(f"refusing to replay {', '.join(loaded.topics)} into {target}: replay goes to the "
             "processor's retry topic, never into a dead-letter or shared source topic")
    if not loaded.letters:
        _say_nothing_matched(loaded)
        return
    if dry_run:
        _dry_run(loaded, spec, json_output)
        return
    if not loaded.audit_exists:
        fail(f"audit topic {audit_topic} does not exist: create it with `backbone topics apply` "
             "(every replay is audited)")
    guard = max_replays if max_replays is not None else loaded.settings.dlq_replay_max
    checkpoint = Consumer(loaded.kafka.consumer(checkpoint_group(spec.name),
                                                **{"enable.partition.eof": True}))
    try:
        present = existing_topics(checkpoint)
        if target not in present:
            fail(f"retry topic {target} of {spec.name} does not exist: create it with "
                 "`backbone topics apply`")
        loaded.ledger.replayed.update(crashed_run_replays(
            checkpoint, loaded.ledger, loaded.topics, loaded.partitions, target, present[target]))
        plan = [decide(letter, loaded.ledger, guard, force) for letter in loaded.letters]
        todo = plan.count(Decision.REPLAY)
        summary = (f"{len(plan)} selected: {todo} to replay to {target}, "
                   f"{plan.count(Decision.ALREADY_REPLAYED)} already replayed"
                   f"{'' if force else ' (skipped; --force replays them again)'}, "
                   f"{plan.count(Decision.PARKED)} parked by the loop guard ({guard} replays)")
        print(summary, file=sys.stderr)
        if todo:
            _confirm(f"replay {todo} dead letter(s) to {target}?", yes, f"replay {todo} records")
        producer = Producer(loaded.kafka.producer())
        started = dl.now_ms()
        with _progress(len(plan)) as advance:
            outcome = replay(
                loaded.letters, ledger=loaded.ledger, producer=producer, checkpoint=checkpoint,
                target_topic=target, max_replays=guard, force=force,
                rate=rate if rate is not None else loaded.settings.dlq_replay_rate,
                started_ms=started, advance=advance,
            )
        event = audit.audit_event(
            action="replay", replay_id=outcome.replay_id,
            who=audit.operator(loaded.settings.operator), at_ms=started,
            status="interrupted" if outcome.interrupted else "completed",
            processor=spec.name, source_topics=loaded.topics, target_topic=target,
            filters=loaded.selection.describe(), counts=outcome.counts(len(plan)),
            done=outcome.replayed, parked=outcome.parked, force=force, reason=reason,
        )
        audit.publish(producer, audit_topic, event)
    finally:
        checkpoint.close()
    if json_output:
        print(json.dumps({"replay_id": outcome.replay_id, "target_topic": target,
                          "status": event["status"], "counts": event["counts"],
                          "failed": outcome.failed}))
    else:
        counts = event["counts"]
        print(f"replay {outcome.replay_id}: {counts['replayed']} replayed to {target}, "
              f"{counts['skipped_already_replayed']} skipped (already replayed), "
              f"{counts['parked']} parked, {counts['failed']} failed; audited in {audit_topic}")
        for failure in outcome.failed:
            print(f"  failed: {failure}", file=sys.stderr)
    if outcome.interrupted:
        print("interrupted: run the same command again to replay the rest", file=sys.stderr)
    if outcome.interrupted or outcome.failed:
        raise typer.Exit(PARTIAL)


def _dry_run(loaded: Loaded, spec: ProcessorSpec, json_output: bool) -> None:
    with endpoints(loaded.settings).registry() as registry:
        serde = AvroSerde(registry, max_message_bytes=loaded.settings.max_message_bytes)
        predictions = predict(loaded.letters, spec, serde, loaded.names, loaded.settings)
    if json_output:
        for p in predictions:
            print(json.dumps({"coordinates": p.letter.coordinates, "succeeds": p.succeeds,
                              "verdict": p.verdict, "reason": p.reason or None}))
    else:
        table = Table(Column("where", no_wrap=True), "key", "category now", "verdict")
        for p in predictions:
            table.add_row(escape(p.letter.coordinates),
                          escape(_short((p.letter.key or b"").decode("utf-8", "replace"), 30)),
                          escape(p.letter.category or "?"), escape(p.verdict))
        Console(width=200).print(table)
    good = sum(p.succeeds for p in predictions)
    print(f"dry run: {good} would succeed, {len(predictions) - good} still fail; nothing was "
          "produced", file=sys.stderr)


@app.command()
def purge(
    processor_name: str | None = PROCESSOR, topic: list[str] | None = TOPIC,
    category: list[str] | None = CATEGORY, since: str | None = SINCE, until: str | None = UNTIL,
    key: str | None = KEY, offsets: str | None = OFFSETS, prefix: str | None = PREFIX,
    audit_topic: str = AUDIT, json_output: bool = JSON,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    reason: str | None = typer.Option(None, "--reason", help="Why (ticket), kept in the audit."),
) -> None:
    """Mark dead letters purged: hidden from list, stats and replay (audited).

    Kafka cannot delete single records; purge records the selection in the audit trail and the
    bytes leave with the topic's retention (30 days for dead-letter topics).
    """
    loaded = _load(processor_name, topic, category, since, until, key, offsets, prefix,
                   audit_topic)
    if not loaded.letters:
        _say_nothing_matched(loaded)
        return
    if not loaded.audit_exists:
        fail(f"audit topic {audit_topic} does not exist: create it with `backbone topics apply`")
    count = len(loaded.letters)
    _confirm(f"purge {count} dead letter(s) from {', '.join(loaded.topics)}?", yes,
             f"purge {count} records")
    purge_id = f"purge-{uuid.uuid4().hex[:12]}"
    event = audit.audit_event(
        action="purge", replay_id=purge_id, who=audit.operator(loaded.settings.operator),
        at_ms=int(time.time() * 1000), status="completed", processor=processor_name,
        source_topics=loaded.topics, target_topic=None, filters=loaded.selection.describe(),
        counts={"selected": count, "purged": count},
        done=[(x.topic, x.partition, x.offset) for x in loaded.letters], reason=reason,
    )
    audit.publish(Producer(loaded.kafka.producer()), audit_topic, event)
    if json_output:
        print(json.dumps({"purge_id": purge_id, "purged": count}))
    else:
        print(f"{purge_id}: {count} dead letter(s) marked purged; audited in {audit_topic}")
