"""``backbone carriers parse``: one carrier tracking response to ShipmentMilestone JSON lines."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

import typer

from backbone.cli.exits import OK, PARTIAL, UNUSABLE, fail
from connectors.carriers import CarrierResponseError, parse

app = typer.Typer(name="carriers", no_args_is_help=True, add_completion=False,
                  help="Carrier tracking responses to canonical ShipmentMilestone events.")


@app.callback()
def _group() -> None:
    """Carrier tracking responses to canonical ShipmentMilestone events."""



class CarrierName(StrEnum):
    ups = "ups"
    fedex = "fedex"
    usps = "usps"
    dhl = "dhl"
    easypost = "easypost"
    aftership = "aftership"
    shipengine = "shipengine"
    shippo = "shippo"


@app.command("parse")
def parse_command(
    file: Path = typer.Argument(..., metavar="FILE", help="A recorded tracking response."),
    carrier: CarrierName = typer.Option(..., "--carrier", help="Whose format FILE is in."),
    tracking_number: str | None = typer.Option(
        None, "--tracking-number",
        help="The number FILE answers for, when the body does not repeat it (USPS v3)."),
) -> None:
    """FILE -> ShipmentMilestone JSON lines on stdout; skipped parts on stderr.

    UPS, FedEx and USPS files may be the REST APIs' JSON or the legacy XML (the body says
    which); dhl is the Unified Tracking API; easypost, aftership, shipengine and shippo read
    their tracker objects and webhook bodies. The same code as the poller and the webhooks.

    A not-found or error response prints no events and exits 2; exit 1 when some parts were
    skipped.
    """
    try:
        data = file.read_bytes()
    except OSError as error:
        fail(f"cannot read {file}: {error.strerror}")
    try:
        parsed = parse(carrier.value, data, name=str(file), recorded_at=datetime.now(UTC),
                       tracking_number=tracking_number)
    except CarrierResponseError as error:
        fail(str(error))
    for rejection in parsed.rejections:
        print(f"backbone: {rejection.position}: {rejection.problem}", file=sys.stderr)
    for event in parsed.events:
        sys.stdout.write(json.dumps(event.to_json_dict()) + "\n")
    if not parsed.events:
        if parsed.rejections:
            fail(f"{file}: no usable tracking event ({len(parsed.rejections)} skipped)")
        print(f"backbone: {file}: the response holds no tracking events yet", file=sys.stderr)
        raise typer.Exit(OK)
    raise typer.Exit(PARTIAL if parsed.rejections else OK)


__all__ = ["UNUSABLE", "app"]
