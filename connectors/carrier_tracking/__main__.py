"""``python -m connectors.carrier_tracking``: the same as ``backbone connect carrier-tracking``."""

import typer

from connectors.carrier_tracking.cli import carrier_tracking

typer.run(carrier_tracking)
