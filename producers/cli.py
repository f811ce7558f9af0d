"""``backbone publish TOPIC [FILE|-]``: JSON lines (as ``backbone tail`` prints them) -> events.

The producers stage's command, added to ``backbone`` through the ``backbone.commands`` entry
point (the kernel imports no stage).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TextIO

import typer
from pydantic import ValidationError

from backbone.cli import context
from backbone.cli.exits import OK, PARTIAL, UNUSABLE, fail
from backbone.errors import BackboneError, PublishError
from backbone.events import model_for
from backbone.settings import load_settings
from backbone.topics import Topic, topic
from producers.publisher import EventPublisher


def _catalog_topic(name: str) -> Topic:
    try:
        return topic(name)
    except KeyError as error:
        fail(str(error.args[0]))


def publish(
    topic_name: str = typer.Argument(..., metavar="TOPIC"),
    file: str = typer.Argument("-", metavar="[FILE|-]", help="JSON lines; - reads stdin."),
) -> None:
    """JSON lines (as tail prints them) -> validated canonical events on TOPIC.

    Each bad line is reported with its line number; the rest are still published.
    Exit 0: all published; 1: some lines rejected; 2: nothing published.
    """
    entry = _catalog_topic(topic_name)
    if entry.record is None:
        fail(f"{entry.name} carries {entry.value_format.value}, not canonical events")
    settings = load_settings()
    source_name = "stdin" if file == "-" else file
    serde = context.serde(settings)
    with _open(file) as lines, EventPublisher(
        context.endpoints(settings).bootstrap_servers, serde,
        flush_timeout_s=settings.publish_flush_timeout_s,
    ) as publisher:
        futures, rejected = [], 0
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                event = model_for(entry.record).from_json_dict(json.loads(line))
                futures.append((number, publisher.publish(event, topic=entry)))
            except (ValueError, ValidationError, BackboneError) as error:
                rejected += 1
                print(f"backbone: {source_name} line {number}: {_reason(error)}",
                      file=sys.stderr)
        publisher.flush()
    published = 0
    for number, future in futures:
        failure = future.exception()
        if failure is None:
            published += 1
        else:
            rejected += 1
            print(f"backbone: {source_name} line {number}: {failure}", file=sys.stderr)
    print(f"published {published} events to {entry.name}; rejected {rejected} lines",
          file=sys.stderr)
    raise typer.Exit(OK if rejected == 0 else PARTIAL if published else UNUSABLE)


def _reason(error: Exception) -> str:
    if isinstance(error, ValidationError):
        details = []
        for detail in error.errors()[:3]:
            where = ".".join(str(part) for part in detail["loc"]) or "(line)"
            got = "" if detail["type"] == "missing" else f" (got {detail.get('input')!r:.60})"
            details.append(f"field {where}: {detail['msg']}{got}")
        return "; ".join(details)
    if isinstance(error, json.JSONDecodeError):
        return f"not JSON: {error}"
    if isinstance(error, PublishError):
        return str(error)
    return str(error)


def _open(file: str) -> TextIO:
    if file == "-":
        return sys.stdin
    path = Path(file)
    if not path.is_file():
        fail(f"{file}: no such file")
    return path.open(encoding="utf-8")
