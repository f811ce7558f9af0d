"""``backbone stack up | down | status | install``: the local Kafka + registry on loopback."""

from __future__ import annotations

import sys

import typer

from backbone.cli.exits import fail
from backbone.settings import load_settings
from backbone.stack import LocalStack, StackError, install
from backbone.stack.postgres import LocalPostgres

app = typer.Typer(help="The local Kafka (KRaft; one node, or a cluster) and schema registry.",
                  no_args_is_help=True)


@app.command()
def up(
    with_postgres: bool = typer.Option(
        False, "--with-postgres",
        help="Also start PostgreSQL (Debian package postgresql) for the ERP outbox relay and "
             "print BACKBONE_ERP_DB=postgresql://..."),
    brokers: int = typer.Option(
        None, "--brokers", min=1,
        help="Kafka nodes: 3 runs a replicated KRaft cluster on loopback (default "
             "BACKBONE_KAFKA_BROKERS, 1)."),
) -> None:
    """Start the stack (idempotent) and print KAFKA_BOOTSTRAP_SERVERS / SCHEMA_REGISTRY_URL.

    Use it as: eval "$(backbone stack up)"
    """
    try:
        local = LocalStack(load_settings())
        endpoints = local.up(brokers)
        postgres = LocalPostgres(local.run_dir).up() if with_postgres else None
    except StackError as error:
        fail(str(error))
    sys.stdout.write(endpoints.env_lines())
    if postgres is not None:
        sys.stdout.write(postgres.env_line())


@app.command()
def down() -> None:
    """Stop the stack: SIGTERM, then SIGKILL after BACKBONE_STACK_STOP_TIMEOUT_S."""
    killed = LocalStack(load_settings()).down()
    for name in killed:
        print(f"{name} did not stop in time and was killed", file=sys.stderr)
    print("stack stopped", file=sys.stderr)


@app.command()
def status() -> None:
    """Say what runs where, each Kafka node on its own line (exit 0 when all answer, 1
    otherwise)."""
    components = LocalStack(load_settings()).status()
    for component in components:
        state = (
            "answering" if component.answering
            else "running, not answering" if component.running
            else "stopped"
        )
        pid = f"pid {component.pid}" if component.pid else "no pid"
        print(f"{component.name:<16} {state:<24} {component.address:<44} {pid:<10} "
              f"log {component.log}")
    raise typer.Exit(0 if all(c.answering for c in components) else 1)


@app.command("install")
def install_command(
    force: bool = typer.Option(False, "--force", help="Download and unpack again."),
) -> None:
    """Fetch the Kafka jars and the registry from Maven Central (once; cached)."""
    settings = load_settings()
    try:
        changed = install(settings.resolved_lib_dir.resolve(), force=force)
    except StackError as error:
        fail(str(error))
    print("installed" if changed else f"already installed in {settings.resolved_lib_dir}",
          file=sys.stderr)
