"""``python -m demo``: start the stack, run every connector and processor on demo/samples/,
then fill the analysts' Iceberg tables and query them.

Each step is the command a user would type (``backbone ...`` in a subprocess), so the demo
shows the product's surface, not internals. ``--secure`` (``make demo SECURE=1``) runs it on the
secured stack (``stack up --secure``), each step as the principal of the component it runs,
so every step also proves that component's ACLs and registry role suffice. Files are copied
into a fresh run folder under ``.backbone/demo/``; running it again works (interchanges and
outbox rows already published are not published twice).
"""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from backbone import acls
from backbone.settings import load_settings
from backbone.stack import LocalStack, StackError
from backbone.stack.secure import SecureStack
from demo import analysts, webhooks
from demo.summary import print_summary

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "demo" / "samples"
CARRIER_FILES = {"ups": "ups__*.xml", "fedex": "fedex__*.xml", "usps": "usps__*.xml"}
PROCESSORS = ("shipment-status", "order-fulfillment", "stock-reconciliation")


def step(title: str) -> None:
    print(f"\n== {title}", flush=True)


def backbone(env: dict[str, str], *args: str, stdin: bytes | None = None,
             allowed: tuple[int, ...] = (0, 1)) -> bytes:
    """Run ``backbone ARGS`` like a user; exit 1 (some inputs rejected) is a normal outcome."""
    print(f"$ backbone {' '.join(args)}", flush=True)
    result = subprocess.run([sys.executable, "-m", "backbone", *args], env=env, input=stdin,
                            capture_output=True)
    for line in result.stderr.decode(errors="replace").splitlines()[-12:]:
        print(f"    {line}")
    if result.returncode not in allowed:
        raise SystemExit(f"demo: `backbone {' '.join(args)}` failed with exit {result.returncode}")
    return result.stdout


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def main() -> int:
    started = time.monotonic()
    settings = load_settings()
    secure = "--secure" in sys.argv[1:]
    try:
        if secure:
            step("secured stack: Kafka (SASL_SSL + mTLS, ACLs) + Apicurio Registry behind "
                 "Keycloak")
            secured = SecureStack(settings).up()
            print(secured.env_lines(), end="")
            endpoints = secured.client_endpoints(acls.ADMIN)
        else:
            step("local stack: Kafka (KRaft) + Apicurio Registry")
            endpoints = LocalStack(settings).up()
            print(endpoints.env_lines(), end="")
    except StackError as error:
        print(f"demo: {error}", file=sys.stderr)
        return 2
    plain = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": endpoints.bootstrap_servers,
             "SCHEMA_REGISTRY_URL": endpoints.registry_url, "BACKBONE_LOG_LEVEL": "WARNING"}

    def as_principal(name: str) -> dict[str, str]:
        """The environment of a step: on the secured stack, that component's credentials."""
        return {**plain, **secured.env(name)} if secure else plain

    env = as_principal(acls.ADMIN)

    run = settings.state_dir.resolve() / "demo" / datetime.now(UTC).strftime("run-%Y%m%dT%H%M%S")
    state = settings.state_dir.resolve() / "demo" / "state"
    run.mkdir(parents=True)
    state.mkdir(parents=True, exist_ok=True)

    step("topics and schemas")
    backbone(env, "topics", "apply")
    backbone(env, "schemas", "register")

    step("EDI X12: partner files in an inbox -> canonical events, 997/999 acknowledgements")
    inbox = run / "edi" / "inbox"
    shutil.copytree(SAMPLES / "edi", inbox)
    backbone(as_principal("edi-x12"), "edi", "ingest", "--inbox", str(inbox), "--once",
             "--state-dir", str(state / "edi"))

    step("ERP outbox (SQLite): business rows and outbox rows written in one transaction")
    database = run / "erp.db"
    with sqlite3.connect(database) as erp:
        erp.executescript((ROOT / "connectors/erp_outbox/schema.sqlite.sql").read_text())
        erp.executescript((ROOT / "connectors/erp_outbox/sample.sql").read_text())
    backbone(as_principal("erp-outbox"), "connect", "erp-outbox", "--db",
             f"sqlite:///{database}", "--once")

    step("WMS feed: counts, movements and receipts as CSV and JSON lines")
    wms = run / "wms" / "inbox"
    shutil.copytree(ROOT / "connectors/wms_feed/samples", wms)
    backbone(as_principal("wms-feed"), "connect", "wms-feed", "--inbox", str(wms), "--once")

    step("carrier tracking responses (UPS, FedEx, USPS) -> ShipmentMilestone")
    for carrier, pattern in CARRIER_FILES.items():
        for path in sorted((SAMPLES / "carriers").glob(pattern)):
            lines = backbone(env, "carriers", "parse", str(path), "--carrier", carrier)
            if lines:
                backbone(as_principal("carrier-webhooks"), "publish",
                         "logistics.shipment-milestone.raw.v1", "-", stdin=lines)

    step("carrier webhooks: signed EasyPost-style tracker.updated bodies")
    webhooks.deliver(as_principal("carrier-webhooks"),
                     sorted((SAMPLES / "webhooks").glob("*.json")), _free_port())

    step("processors, exactly once, until idle")
    for name in PROCESSORS:
        backbone(as_principal(name), "process", name, "--until-idle", "8")

    step("summary")
    print_summary(endpoints)

    step("analysts: the topics as Iceberg tables (exactly once), one question in SQL")
    analysts.fill_and_ask(backbone, as_principal("iceberg-sink"))
    print(f"\nThe demo took {time.monotonic() - started:.0f}s. Its files are in {run}.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
