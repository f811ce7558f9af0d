"""The ``backbone`` command: kernel commands here, stage commands from entry points.

The kernel never imports a stage; connectors and processors add their command groups through
the ``backbone.commands`` entry-point group in pyproject.toml, loaded when the CLI starts.
"""

from __future__ import annotations

import contextlib
import sys
import warnings
from importlib.metadata import entry_points

import typer

from backbone import logs
from backbone.cli import acls, asyncapi, events, schemas, stack, topics
from backbone.cli.exits import UNUSABLE
from backbone.clients import ClientConfigError, redact
from backbone.registry import RegistryAuthError
from backbone.settings import load_settings

app = typer.Typer(
    name="backbone",
    help="Canonical events on Apache Kafka for distribution ERP, EDI, WMS and carrier feeds.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(stack.app, name="stack")
app.add_typer(topics.app, name="topics")
app.add_typer(schemas.app, name="schemas")
app.add_typer(acls.app, name="acls")
app.command("tail")(events.tail)
app.command("publish")(events.publish)
app.command("asyncapi")(asyncapi.asyncapi)


def _add_stage_commands(root: typer.Typer) -> None:
    for entry in entry_points(group="backbone.commands"):
        try:
            group = entry.load()
        except Exception as error:  # one broken stage must not take every command down
            print(f"backbone: the `{entry.name}` commands are unavailable ({entry.value}): "
                  f"{type(error).__name__}: {error}", file=sys.stderr)
            continue
        if isinstance(group, typer.Typer):
            root.add_typer(group, name=entry.name)
        else:
            root.command(entry.name)(group)


def main() -> None:
    # authlib (pulled in by confluent-kafka's schema_registry, which quixstreams imports) warns
    # about itself on import, after installing an "always" filter for its warnings at import
    # time; ours goes in front of that one. A user of the CLI can do nothing about it.
    with contextlib.suppress(ImportError):
        import authlib.deprecate  # noqa: F401
    warnings.filterwarnings("ignore", message="The httpx module is deprecated")
    settings = load_settings()
    logs.configure(settings.log_level, json_lines=settings.log_format != "text")
    _add_stage_commands(app)
    try:
        app()
    except (RegistryAuthError, ClientConfigError) as error:
        # our configuration or credentials, whichever command met them: one line, exit 2
        print(f"backbone: {redact(str(error))}", file=sys.stderr)
        raise SystemExit(UNUSABLE) from None
