"""``backbone connect erp-outbox``: relay an ERP outbox table to Kafka."""

from __future__ import annotations

import sys

import typer

from backbone.cli.exits import fail
from connectors.erp_outbox.connector import ErpOutboxConnector
from connectors.erp_outbox.database import (
    SCHEMA_DIR,
    OutboxError,
    execute_script,
    redact,
    schema_file,
)
from connectors.runner import run_command

ROUTE_HELP = ("EventType=topic: publish that event type to another topic than its catalog one "
              "(staging, tests); repeatable.")


def erp_outbox(
    db: str = typer.Option(..., "--db", help="postgresql://user@host:port/db or sqlite:///path"),
    once: bool = typer.Option(False, "--once", help="Relay what is there now, then exit."),
    instance: str = typer.Option("erp", "--instance",
                                 help="Name of the ERP in events and idempotency keys."),
    create_schema: bool = typer.Option(False, "--create-schema",
                                       help="Create the outbox table first (idempotent)."),
    load_sample: bool = typer.Option(False, "--load-sample",
                                     help="Insert connectors/erp_outbox/sample.sql first."),
    route: list[str] = typer.Option([], "--route", help=ROUTE_HELP),
    offsets_topic: str | None = typer.Option(None, "--offsets-topic", hidden=True),
    dead_letter_topic: str | None = typer.Option(None, "--dead-letter-topic", hidden=True),
    batch_size: int = typer.Option(1000, "--batch-size", min=1, max=10_000,
                                   help="Rows per claim (one DB transaction, one Kafka wait)."),
) -> None:
    """Relay outbox rows (Debezium outbox fields) as canonical events; exit 1 if some rows
    went to erp-outbox.dlq.v1.
    """
    try:
        if create_schema:
            execute_script(db, schema_file(db))
        if load_sample:
            execute_script(db, SCHEMA_DIR / "sample.sql")
    except Exception as error:  # psycopg / sqlite3 errors: report which database and why
        fail(f"preparing {redact(db)}: {error}")
    try:
        run_command(ErpOutboxConnector(db, instance=instance), once=once, routes=route,
                    offsets_topic=offsets_topic, dead_letter_topic=dead_letter_topic,
                    batch_size=batch_size)
    except OutboxError as error:
        fail(str(error))
    sys.stdout.flush()
