"""``backbone connect``: the long-running connectors, one subcommand each."""

from __future__ import annotations

import typer

app = typer.Typer(name="connect", no_args_is_help=True, add_completion=False,
                  help="Run a connector: carrier webhooks, carrier tracking, ERP outbox, WMS feed.")


# -- erp-outbox and wms-feed (their options live beside each connector) -------------------------
from connectors.erp_outbox.cli import erp_outbox  # noqa: E402
from connectors.wms_feed.cli import wms_feed  # noqa: E402

app.command("erp-outbox")(erp_outbox)
app.command("wms-feed")(wms_feed)

# -- carrier-webhooks (options in connectors/carrier_webhooks/cli.py) ---------------------------
from connectors.carrier_webhooks.cli import carrier_webhooks  # noqa: E402

app.command("carrier-webhooks")(carrier_webhooks)

# -- carrier-tracking (options in connectors/carrier_tracking/cli.py) ---------------------------
from connectors.carrier_tracking.cli import carrier_tracking  # noqa: E402

app.command("carrier-tracking")(carrier_tracking)
