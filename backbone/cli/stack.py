"""``backbone stack up | down | status | install``: the local Kafka + registry on loopback."""

from __future__ import annotations

import sys

import typer

from backbone import acls
from backbone.cli.exits import fail
from backbone.settings import load_settings
from backbone.stack import LocalStack, StackError, install, keycloak
from backbone.stack.install import install_keycloak
from backbone.stack.postgres import LocalPostgres
from backbone.stack.processes import find_java
from backbone.stack.secure import KEYCLOAK_MIN_JAVA, SecureStack

SECURE = typer.Option(False, "--secure", help="The secured stack (SASL_SSL + mTLS, ACLs, "
                      "registry behind Keycloak) in <state_dir>/secure, on its own ports.")

app = typer.Typer(help="The local Kafka (KRaft; one node, or a cluster) and schema registry.",
                  no_args_is_help=True)


@app.command()
def up(
    with_postgres: bool = typer.Option(
        False, "--with-postgres",
        help="Also start PostgreSQL (Debian package postgresql) for the ERP outbox relay and "
             "print BACKBONE_ERP_DB=postgresql://..."),
    secure: bool = SECURE,
    principal: str = typer.Option(
        acls.ADMIN, "--principal",
        help="--secure: whose credentials the printed variables carry (a component of "
             "`backbone acls plan`, operator or admin)."),
    mtls: bool = typer.Option(
        False, "--mtls", help="--secure: the mTLS listener and the principal's certificate "
                              "instead of SCRAM."),
    files_only: bool = typer.Option(
        False, "--files-only",
        help="--secure: write the certificates, secrets and Keycloak realm (and the Docker "
             "files deploy/compose.yaml's secure profile mounts), start nothing."),
    brokers: int = typer.Option(
        None, "--brokers", min=1,
        help="Kafka nodes: 3 runs a replicated KRaft cluster on loopback (default "
             "BACKBONE_KAFKA_BROKERS, 1)."),
) -> None:
    """Start the stack (idempotent) and print `export` lines: KAFKA_BOOTSTRAP_SERVERS,
    SCHEMA_REGISTRY_URL and, with --secure, the security variables of a principal.

    Use it as: eval "$(backbone stack up)"  or  eval "$(backbone stack up --secure)"
    """
    if principal not in acls.principals():
        fail(f"--principal {principal}: no such principal; choose one of "
             f"{', '.join(acls.principals())}")
    settings = load_settings()
    try:
        if files_only:
            prepared = SecureStack(settings)
            prepared.prepare()
            print(f"secured stack files written to {prepared.run_dir}", file=sys.stderr)
            return
        if secure:
            secured = SecureStack(settings)
            env = secured.up().env_lines(principal, mtls=mtls)
            run_dir = secured.run_dir
        else:
            local = LocalStack(settings)
            env = local.up(brokers).env_lines()
            run_dir = local.run_dir
        postgres = LocalPostgres(run_dir).up() if with_postgres else None
    except StackError as error:
        fail(str(error))
    sys.stdout.write(env)
    if postgres is not None:
        sys.stdout.write(postgres.env_line())


@app.command()
def down(secure: bool = SECURE) -> None:
    """Stop the stack: SIGTERM, then SIGKILL after BACKBONE_STACK_STOP_TIMEOUT_S."""
    settings = load_settings()
    killed = SecureStack(settings).down() if secure else LocalStack(settings).down()
    for name in killed:
        print(f"{name} did not stop in time and was killed", file=sys.stderr)
    print("stack stopped", file=sys.stderr)


@app.command()
def status(secure: bool = SECURE) -> None:
    """Say what runs where, each Kafka node on its own line (exit 0 when all answer, 1
    otherwise)."""
    settings = load_settings()
    components = SecureStack(settings).status() if secure else LocalStack(settings).status()
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
    secure: bool = typer.Option(False, "--secure",
                                help="Also Keycloak, for `stack up --secure`."),
) -> None:
    """Fetch the Kafka jars and the registry (and Keycloak) from Maven Central (once; cached)."""
    settings = load_settings()
    try:
        lib_dir = settings.resolved_lib_dir.resolve()
        changed = install(lib_dir, force=force)
        if secure:
            changed = install_keycloak(lib_dir, force=force) or changed
            java = find_java(KEYCLOAK_MIN_JAVA, "Keycloak 26", settings.java_home)
            keycloak.build(lib_dir, java.executable.resolve().parent.parent)
    except StackError as error:
        fail(str(error))
    print("installed" if changed else f"already installed in {settings.resolved_lib_dir}",
          file=sys.stderr)
