"""``backbone shipments normalize``: raw ShipmentMilestone JSON lines to the ShipmentStatus each
shipment ends in, offline, with the shipment_status processor's reducer."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

import typer
from pydantic import ValidationError

from backbone.cli.exits import OK, PARTIAL, UNUSABLE, fail
from backbone.errors import UnknownCodeError
from backbone.events.logistics import ShipmentMilestone, ShipmentStatus
from backbone.settings import load_settings
from processors.shipment_status.mapping import MappingFileError, StatusMappings, load_mappings
from processors.shipment_status.state import ShipmentMemory, apply

app = typer.Typer(name="shipments", no_args_is_help=True, add_completion=False,
                  help="Shipment status: normalize raw carrier milestones offline.")


@app.callback()
def _group() -> None:
    """Shipment status: normalize raw carrier milestones offline."""



@app.command("normalize")
def normalize(
    file: str = typer.Argument("-", metavar="[FILE|-]", help="JSON lines; - reads stdin."),
) -> None:
    """Raw ShipmentMilestone JSON lines -> the ShipmentStatus each shipment ends in.

    Unknown codes and bad lines are reported on stderr with their line numbers; exit 1 when some
    lines were rejected, 2 when none was usable.
    """
    mappings = _mappings()
    name = "<stdin>" if file == "-" else file
    if file == "-":
        code = run(sys.stdin, name, mappings, sys.stdout, sys.stderr)
    else:
        try:
            with Path(file).open(encoding="utf-8") as lines:
                code = run(lines, name, mappings, sys.stdout, sys.stderr)
        except OSError as error:
            fail(f"cannot read {file}: {error.strerror}")
    raise typer.Exit(code)


def _mappings() -> StatusMappings:
    overrides = load_settings().status_mappings
    try:
        return load_mappings(overrides)
    except MappingFileError as error:
        fail(f"{error} (BACKBONE_STATUS_MAPPINGS)")


def run(lines: Iterable[str], name: str, mappings: StatusMappings, out: TextIO,
        err: TextIO) -> int:
    """Normalize ``lines``; prints statuses on ``out``, rejections on ``err``; the exit code."""
    shipments: dict[tuple[str, str], tuple[ShipmentStatus, ShipmentMemory]] = {}
    rejected = applied = 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{name}:{number}"
        event = _event(line, where, err)
        if event is None:
            rejected += 1
            continue
        key = (event.carrier, event.tracking_number)
        status, memory = shipments.get(key, (None, None))
        try:
            outcome = apply(status, event, mappings, memory)
        except UnknownCodeError as error:
            print(f"backbone: {where}: UNKNOWN_CODE: {error}", file=err)
            rejected += 1
            continue
        if outcome.warning:
            print(f"backbone: {where}: note: {event.carrier}:{event.tracking_number}: "
                  f"{outcome.warning}", file=err)
        shipments[key] = (outcome.status, outcome.memory)
        applied += 1
    for status, _ in shipments.values():
        out.write(json.dumps(status.to_json_dict()) + "\n")
    if rejected:
        print(f"backbone: {name}: {rejected} line(s) rejected, {applied} applied", file=err)
        return PARTIAL if applied else UNUSABLE
    return OK


def _event(line: str, where: str, err: TextIO) -> ShipmentMilestone | None:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as error:
        print(f"backbone: {where}: not JSON ({error.msg} at column {error.colno}); each line "
              "must be one ShipmentMilestone object as `backbone tail` prints it", file=err)
        return None
    if not isinstance(data, dict):
        print(f"backbone: {where}: expected a JSON object, got {type(data).__name__}", file=err)
        return None
    try:
        return ShipmentMilestone.from_json_dict(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in item['loc']) or '(line)'}: {item['msg']}"
            for item in error.errors()[:5]
        )
        print(f"backbone: {where}: not a valid ShipmentMilestone: {problems}", file=err)
        return None
