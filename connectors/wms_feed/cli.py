"""``backbone connect wms-feed``: publish WMS feed files from an inbox folder."""

from __future__ import annotations

from pathlib import Path

import typer

from backbone.cli.exits import fail
from connectors.runner import run_command
from connectors.wms_feed.connector import WmsFeedConnector


def wms_feed(
    inbox: Path = typer.Option(..., "--inbox", help="Folder the WMS drops .csv/.jsonl files in."),
    once: bool = typer.Option(False, "--once", help="Publish the files there now, then exit."),
    instance: str = typer.Option("wms", "--instance",
                                 help="Name of the WMS in events and idempotency keys."),
    route: list[str] = typer.Option(
        [], "--route", help="EventType=topic: publish that event type to another topic than "
        "its catalog one (staging, tests); repeatable."),
    offsets_topic: str | None = typer.Option(None, "--offsets-topic", hidden=True),
    dead_letter_topic: str | None = typer.Option(None, "--dead-letter-topic", hidden=True),
) -> None:
    """Publish movements, counts and receipts; bad rows go to wms-feed.dlq.v1 (exit 1), files
    move to <inbox>/processed/ once delivered.
    """
    if not inbox.is_dir():
        fail(f"--inbox {inbox}: no such folder; create it or point --inbox at the WMS drop "
             "folder")
    run_command(WmsFeedConnector(inbox, instance=instance), once=once, routes=route,
                offsets_topic=offsets_topic, dead_letter_topic=dead_letter_topic)
