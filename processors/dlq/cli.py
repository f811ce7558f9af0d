"""``backbone dlq list | show | stats | replay | purge``: dead letters for operators.

Every command reads the dead-letter topics named by ``--topic`` (default: the ``--processor``'s
dead-letter topic, else every catalog ``*.dlq.v1`` topic that exists) and takes the same filters
(processors/dlq/selection.py). Records marked purged in the audit trail are hidden. Foreign dead
letters (Kafka Connect, Spring Kafka, Kafka Streams, Karafka headers) are read too.
``--topic-prefix P`` renames every topic of the processor to ``P.<catalog name>`` (fresh topics
for tests and rehearsals); ``--audit-topic`` moves the audit trail likewise. The work itself is
in actions.py, which the console shares; this module asks and prints.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress
from rich.table import Column, Table

from backbone.cli.context import endpoints
from backbone.cli.exits import PARTIAL, fail
from backbone.dead_letters import now_ms
from backbone.serde import AvroSerde
from backbone.settings import Settings, load_settings
from connectors.runner import parse_routes
from processors.api import processor
from processors.dlq import audit
from processors.dlq.actions import (
    Loaded,
    OperatorError,
    ReplayPlan,
    Scope,
    document,
    letter_json,
    load,
    owner_of_selection,
    parse_where,
    predictions_for,
    purge,
    replay_selection,
)
from processors.dlq.replay import Prediction
from processors.dlq.selection import SelectionError, iso, selection_from, stats

app = typer.Typer(help="Inspect, replay and purge dead letters.", no_args_is_help=True)

PROCESSOR = typer.Option(None, "--processor", "-p", help="Owning processor, e.g. shipment-status.")
OWNER = typer.Option(None, "--owner", help="Owner: a processor, connector or the webhook service.")
STAGE = typer.Option(None, "--stage", help="connector, processor, webhook or sink.")
ERROR = typer.Option(None, "--error-contains", "-e", help="Text in the error message or class.")
TOPIC = typer.Option(None, "--topic", "-t", help="Dead-letter topic (repeatable).")
CATEGORY = typer.Option(None, "--category", "-c", help="Error category (repeatable or a,b).")
SINCE = typer.Option(None, "--since", help="Failed at/after: ISO-8601 or 30m, 2h, 7d.")
UNTIL = typer.Option(None, "--until", help="Failed at/before: ISO-8601 or 30m, 2h, 7d.")
KEY = typer.Option(None, "--key-contains", "-k", help="Text in the record or business key.")
OFFSETS = typer.Option(None, "--offsets", help="Dead-letter offsets, e.g. 0:10-20,1:5-.")
PREFIX = typer.Option(None, "--topic-prefix", help="Use <prefix>.<catalog name> topics.")
AUDIT = typer.Option(audit.AUDIT_TOPIC, "--audit-topic", help="Where the audit trail is.")
JSON = typer.Option(False, "--json", help="Machine-readable output.")
ROUTE = typer.Option(None, "--route", help="EventType=topic for events a source-side replay "
                                           "publishes (default: the catalog topic).")


def _fail(error: Exception) -> NoReturn:
    fail(str(error.args[0]) if error.args else str(error))


def _load(processor_name: str | None, topic: list[str] | None, category: list[str] | None,
          since: str | None, until: str | None, key: str | None, offsets: str | None,
          prefix: str | None, audit_topic: str, include_purged: bool = False,
          owner: str | None = None, stage: str | None = None,
          error_contains: str | None = None) -> tuple[Settings, Loaded]:
    try:
        if processor_name:
            processor(processor_name)
        if owner and processor_name and owner != processor_name:
            raise SelectionError(f"--owner {owner} and --processor {processor_name} disagree; "
                                 "give one of them")
        selection = selection_from(owner=processor_name or owner, categories=category or (),
                                   since=since, until=until, key_contains=key,
                                   offsets=offsets, stage=stage, error_contains=error_contains,
                                   now_ms=now_ms())
        scope = Scope(tuple(topic or ()), processor_name, prefix, audit_topic)
        scope.names()
        settings = load_settings()
        return settings, load(endpoints(settings).kafka, scope, selection, include_purged)
    except (SelectionError, KeyError, OperatorError) as error:
        _fail(error)


def _say_nothing_matched(loaded: Loaded) -> None:
    print(f"backbone: no dead letters match {loaded.describe()}", file=sys.stderr)


def _short(text: str | None, width: int) -> str:
    text = (text or "").replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


def _serde(settings: Settings) -> AvroSerde:
    return AvroSerde(endpoints(settings).registry(), max_message_bytes=settings.max_message_bytes)


@app.command("list")
def list_letters(
    processor_name: str | None = PROCESSOR, topic: list[str] | None = TOPIC,
    category: list[str] | None = CATEGORY, since: str | None = SINCE, until: str | None = UNTIL,
    key: str | None = KEY, offsets: str | None = OFFSETS, prefix: str | None = PREFIX,
    audit_topic: str = AUDIT, json_output: bool = JSON,
    include_purged: bool = typer.Option(False, "--include-purged", help="Show purged too."),
    owner: str | None = OWNER, stage: str | None = STAGE, error_contains: str | None = ERROR,
) -> None:
    """The selected dead letters, oldest first per partition."""
    _, loaded = _load(processor_name, topic, category, since, until, key, offsets, prefix,
                      audit_topic, include_purged, owner, stage, error_contains)
    if not loaded.letters:
        _say_nothing_matched(loaded)
        return
    if json_output:
        for letter in loaded.letters:
            print(json.dumps(letter_json(letter, loaded.ledger)))
        return
    table = Table("failed at", "stage", "owner", "category", "key", "original", "replays",
                  "error")
    table.columns.insert(0, Column("where", no_wrap=True))
    for letter in loaded.letters:
        record = letter.record
        failed = letter.failed_at_ms
        replays = record.replay_count + loaded.ledger.replayed[
            (letter.topic, letter.partition, letter.offset)]
        error = record.message
        if letter.problems:
            error = f"[unreadable: {'; '.join(letter.problems)}] {error}"
        table.add_row(
            escape(letter.coordinates), iso(failed)[:19] if failed else "?",
            escape(record.stage), escape(record.owner), escape(record.category),
            escape(_short((letter.key or b"").decode("utf-8", "replace"), 30)),
            escape(_short(record.location or "?", 50)), str(replays), escape(_short(error, 60)),
        )
    Console(width=220).print(table)
    print(f"{len(loaded.letters)} dead letter(s)", file=sys.stderr)


@app.command()
def show(
    where: str = typer.Argument(..., help="<topic>:<partition>:<offset>, <partition>:<offset> "
                                          "or <offset>."),
    processor_name: str | None = PROCESSOR, topic: list[str] | None = TOPIC,
    prefix: str | None = PREFIX, audit_topic: str = AUDIT, json_output: bool = JSON,
) -> None:
    """One dead letter in full: headers, key, value (as the canonical event when possible)."""
    try:
        scope = Scope(tuple(topic or ()), processor_name, prefix, audit_topic)
        default_topics = list(topic or ([scope.names().name(processor(processor_name).dlq_topic)]
                                        if processor_name else []))
        named, partition, offset = parse_where(where, default_topics)
    except (KeyError, OperatorError) as error:
        _fail(error)
    wanted = named or (default_topics[0] if len(default_topics) == 1 else None)
    if wanted is None:
        fail(f"{where!r} does not say which dead-letter topic: write <topic>:<partition>:<offset>"
             " or give --topic / --processor")
    settings, loaded = _load(processor_name, [wanted], None, None, None, None,
                             f"{partition}:{offset}", prefix, audit_topic, include_purged=True)
    if not loaded.letters:
        fail(f"no dead letter at {wanted}:{partition}:{offset} (offset out of range or deleted "
             f"by retention); `backbone dlq list --topic {wanted}` shows what is there")
    serde = _serde(settings)
    with serde.registry:
        shown = document(loaded.letters[0], loaded, serde)
    if json_output:
        print(json.dumps(shown, indent=2, default=str))
        return
    console = Console(width=160)
    for name, value in shown.items():
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
    owner: str | None = OWNER, stage: str | None = STAGE, error_contains: str | None = ERROR,
) -> None:
    """Counts by category, stage, owner, hour of failure and topic."""
    _, loaded = _load(processor_name, topic, category, since, until, key, offsets, prefix,
                      audit_topic, False, owner, stage, error_contains)
    if not loaded.letters:
        _say_nothing_matched(loaded)
    result = stats(loaded.letters)
    if json_output:
        print(json.dumps(result.to_json_dict()))
        return
    console = Console(width=120)
    for title, counter in (("category", result.by_category), ("stage", result.by_stage),
                           ("owner", result.by_owner), ("hour (UTC)", result.by_hour),
                           ("topic", result.by_topic)):
        table = Table(title, "dead letters")
        for name, count in sorted(counter.items()):
            table.add_row(escape(name), str(count))
        console.print(table)
    console.print(f"total: {result.total}")


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
        # a disabled bar still takes its lock and updates its task for every record
        yield (lambda: bar.advance(task)) if console.is_terminal else (lambda: None)


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
    owner: str | None = OWNER, stage: str | None = STAGE, error_contains: str | None = ERROR,
    route: list[str] | None = ROUTE,
) -> None:
    """Send dead letters back: a processor's through its retry topic, a connector's or webhook's
    mapped again by the current code and published; once each, audited."""
    settings, loaded = _load(processor_name, topic, category, since, until, key, offsets,
                             prefix, audit_topic, False, owner, stage, error_contains)
    try:
        who = owner_of_selection(loaded, processor_name or owner)
        routes = parse_routes(route or [])
    except (OperatorError, ValueError) as error:
        _fail(error)
    if not loaded.letters:
        _say_nothing_matched(loaded)
        return
    serde = _serde(settings)
    with serde.registry:
        if dry_run:
            _print_predictions(predictions_for(loaded, who, serde, settings), json_output)
            return
        guard = max_replays if max_replays is not None else settings.dlq_replay_max

        def confirm(plan: ReplayPlan) -> bool:
            print(plan.summary(), file=sys.stderr)
            _confirm(f"replay {plan.todo} dead letter(s) to {plan.destination}?", yes,
                     f"replay {plan.todo} records")
            return True

        try:
            with _progress(len(loaded.letters)) as advance:
                result = replay_selection(
                    loaded, owner=who, who=audit.operator(settings.operator), serde=serde,
                    max_replays=guard, force=force,
                    rate=rate if rate is not None else settings.dlq_replay_rate,
                    reason=reason, routes=routes, confirm=confirm, advance=advance)
        except OperatorError as error:
            _fail(error)
    assert result is not None  # confirm() never says no: it exits
    outcome, event = result.outcome, result.event
    if json_output:
        print(json.dumps({"replay_id": outcome.replay_id, "target_topic": result.plan.destination,
                          "status": event["status"], "counts": event["counts"],
                          "failed": outcome.failed}))
    else:
        counts = event["counts"]
        print(f"replay {outcome.replay_id}: {counts['replayed']} replayed to "
              f"{result.plan.destination}, {counts['skipped_already_replayed']} skipped (already "
              f"replayed), {counts['parked']} parked, {counts['failed']} failed; audited in "
              f"{audit_topic}")
        for failure in outcome.failed:
            print(f"  failed: {failure}", file=sys.stderr)
    if outcome.interrupted:
        print("interrupted: run the same command again to replay the rest", file=sys.stderr)
    if outcome.interrupted or outcome.failed:
        raise typer.Exit(PARTIAL)


def _print_predictions(predictions: list[Prediction], json_output: bool) -> None:
    if json_output:
        for p in predictions:
            print(json.dumps({"coordinates": p.letter.coordinates, "succeeds": p.succeeds,
                              "verdict": p.verdict, "reason": p.reason or None,
                              "events": list(p.events) or None}))
    else:
        table = Table(Column("where", no_wrap=True), "key", "failed with", "now")
        for p in predictions:
            table.add_row(escape(p.letter.coordinates),
                          escape(_short((p.letter.key or b"").decode("utf-8", "replace"), 30)),
                          escape(f"{p.letter.record.category}: "
                                 f"{_short(p.letter.record.message, 50)}"),
                          escape(p.verdict))
        Console(width=200).print(table)
    good = sum(p.succeeds for p in predictions)
    print(f"dry run: {good} would succeed, {len(predictions) - good} still fail; nothing was "
          "produced", file=sys.stderr)


@app.command("purge")
def purge_command(
    processor_name: str | None = PROCESSOR, topic: list[str] | None = TOPIC,
    category: list[str] | None = CATEGORY, since: str | None = SINCE, until: str | None = UNTIL,
    key: str | None = KEY, offsets: str | None = OFFSETS, prefix: str | None = PREFIX,
    audit_topic: str = AUDIT, json_output: bool = JSON,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    reason: str | None = typer.Option(None, "--reason", help="Why (ticket), kept in the audit."),
    owner: str | None = OWNER, stage: str | None = STAGE, error_contains: str | None = ERROR,
) -> None:
    """Mark dead letters purged: hidden from list, stats and replay (audited).

    Kafka cannot delete single records; purge records the selection in the audit trail and the
    bytes leave with the topic's retention (30 days for dead-letter topics).
    """
    settings, loaded = _load(processor_name, topic, category, since, until, key, offsets,
                             prefix, audit_topic, False, owner, stage, error_contains)
    if not loaded.letters:
        _say_nothing_matched(loaded)
        return
    count = len(loaded.letters)
    _confirm(f"purge {count} dead letter(s) from {', '.join(loaded.topics)}?", yes,
             f"purge {count} records")
    try:
        event = purge(loaded, who=audit.operator(settings.operator), reason=reason)
    except OperatorError as error:
        _fail(error)
    if json_output:
        print(json.dumps({"purge_id": event["replay_id"], "purged": count}))
    else:
        print(f"{event['replay_id']}: {count} dead letter(s) marked purged; audited in "
              f"{audit_topic}")
