"""``backbone console [--host H] [--port N]``: serve the operator console.

Operators come from ``BACKBONE_CONSOLE_USERS`` (``<name>:<hash>`` lines) or
``BACKBONE_CONSOLE_PASSWORD`` (operator ``admin``); ``--hash-password`` reads a password on
standard input and prints the hash to put after ``<name>:``. Topics: the catalog's, or
``<BACKBONE_PROCESSOR_TOPIC_PREFIX>.<catalog name>`` (``--topic-prefix`` overrides it).
"""

from __future__ import annotations

import getpass
import logging
import secrets
import sys

import typer

from backbone.cli.context import endpoints
from backbone.cli.exits import fail
from backbone.settings import load_settings
from processors.console.auth import CredentialsError, hash_password, load_operators
from processors.dlq import audit


def console(
    host: str = typer.Option("127.0.0.1", "--host",
                             help="Interface to listen on (0.0.0.0: every interface)."),
    port: int = typer.Option(8089, "--port", help="TCP port to listen on."),
    topic_prefix: str | None = typer.Option(
        None, "--topic-prefix", help="Use <prefix>.<catalog name> topics "
                                     "(default BACKBONE_PROCESSOR_TOPIC_PREFIX)."),
    audit_topic: str = typer.Option(audit.AUDIT_TOPIC, "--audit-topic",
                                    help="Where the audit trail is."),
    hash_password_only: bool = typer.Option(
        False, "--hash-password", help="Read a password on stdin, print its hash, exit."),
) -> None:
    """The operators' web console: dead letters, dry-run, replay, purge, audit, processor lag.
    Login required (BACKBONE_CONSOLE_USERS or BACKBONE_CONSOLE_PASSWORD)."""
    if hash_password_only:
        password = (getpass.getpass("password: ") if sys.stdin.isatty()
                    else sys.stdin.readline().rstrip("\n"))
        if len(password) < 12:
            fail("a console password needs at least 12 characters")
        print(hash_password(password))
        return
    import uvicorn

    from processors.console.app import ConsoleConfig, build_app

    settings = load_settings()
    try:
        operators = load_operators(
            settings.console_users,
            settings.console_password.get_secret_value() if settings.console_password else None)
    except CredentialsError as error:
        fail(str(error))
    if not operators and not settings.console_trusted_header:
        fail("no operator can log in: set BACKBONE_CONSOLE_USERS to a file of <name>:<hash> "
             "lines (hash from `backbone console --hash-password`), or BACKBONE_CONSOLE_PASSWORD "
             "for one operator named admin")
    where = endpoints(settings)
    key = (settings.console_secret_key.get_secret_value().encode()
           if settings.console_secret_key else secrets.token_bytes(32))
    config = ConsoleConfig(
        endpoints=where, operators=operators, secret_key=key, audit_topic=audit_topic,
        topic_prefix=topic_prefix or settings.processor_topic_prefix,
        group_prefix=settings.processor_consumer_group_prefix,
        max_message_bytes=settings.max_message_bytes, replay_max=settings.dlq_replay_max,
        replay_rate=settings.dlq_replay_rate, session_hours=settings.console_session_hours,
        trusted_header=settings.console_trusted_header,
        trusted_proxies=frozenset(p.strip() for p in settings.console_trusted_proxies.split(",")
                                  if p.strip()),
        settings=settings)
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    print(f"backbone console on http://{host}:{port}/ ({len(operators)} operator(s))",
          file=sys.stderr)
    uvicorn.run(build_app(config), host=host, port=port, log_level="warning")
