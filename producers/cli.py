"""``backbone publish TOPIC [FILE|-]``: JSON lines (as ``backbone tail`` prints them) -> events.

The producers stage's command, added to ``backbone`` through the ``backbone.commands`` entry
point (the kernel imports no stage).
"""

from __future__ import annotations

import json
import reprlib
import sys
from pathlib import Path
from typing import BinaryIO

import typer
from pydantic import ValidationError

from backbone.cli import context
from backbone.cli.exits import OK, PARTIAL, UNUSABLE, fail
from backbone.errors import BackboneError, PublishError
from backbone.events import Event, model_for
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
        context.kafka(settings), serde,
        flush_timeout_s=settings.publish_flush_timeout_s,
    ) as publisher:
        futures, rejected = [], 0
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                event = event_of_line(entry.record, line)
                futures.append((number, publisher.publish(event, topic=entry)))
            except BAD_LINE as error:
                rejected += 1
                print(f"backbone: {source_name} line {number}: {bad_line_reason(error)}",
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


# What reading a line or publishing its event raises for a line that is wrong (json's own
# depth guard raises RecursionError: one stack frame per nesting level)
BAD_LINE = (ValueError, ValidationError, BackboneError, RecursionError)


def event_of_line(record: str, line: bytes) -> Event:
    """The canonical ``record`` event of one JSON line as ``tail`` prints it; BAD_LINE errors.

    Bytes: json.loads decodes them, so a line that is not UTF-8 is one bad line, not the end
    of the file.
    """
    return model_for(record).from_json_dict(json.loads(line))


def bad_line_reason(error: Exception) -> str:
    """What `publish` prints for a bad line after "<file> line <n>: "."""
    if isinstance(error, ValidationError):
        details = []
        for detail in error.errors()[:3]:
            where = ".".join(str(part) for part in detail["loc"]) or "(line)"
            # reprlib: bounded in length and depth, whatever the line held
            shown = reprlib.repr(detail.get("input"))
            got = "" if detail["type"] == "missing" else f" (got {shown})"
            details.append(f"field {where}: {detail['msg']}{got}")
        return "; ".join(details)
    if isinstance(error, json.JSONDecodeError):
        return f"not JSON: {error}"
    if isinstance(error, RecursionError):  # json's own guard: one stack frame per level
        return "not JSON this command reads: nested too deeply; an event is a few levels deep"
    if isinstance(error, UnicodeDecodeError):
        return f"not UTF-8 text: {error}"
    if isinstance(error, PublishError):
        return str(error)
    return str(error)


def _open(file: str) -> BinaryIO:
    if file == "-":
        return sys.stdin.buffer
    path = Path(file)
    if not path.is_file():
        fail(f"{file}: no such file")
    return path.open("rb")
