"""``python -m connectors.carrier_webhooks``: the same as ``backbone connect carrier-webhooks``."""

import typer

from connectors.carrier_webhooks.cli import carrier_webhooks

typer.run(carrier_webhooks)
