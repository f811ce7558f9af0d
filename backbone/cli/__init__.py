"""The ``backbone`` command: kernel commands here, stage commands from entry points, both lazy.

The kernel never imports a stage; connectors, producers and processors add their commands
through the ``backbone.commands`` entry-point group in pyproject.toml. A command's module is
imported only when that command runs: ``backbone --help`` lists every command with the help it
gives itself, read from its source (parsed, not executed), so it costs no stage import
(an operator types these commands all day; tests/unit/test_cli_startup.py holds it to that).
"""

from __future__ import annotations

import ast
import contextlib
import re
import sys
import warnings
from collections.abc import Mapping
from importlib.metadata import EntryPoint, entry_points
from importlib.util import find_spec
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup

GROUP = "backbone.commands"
# the kernel's own commands: name -> (module:object, one-line help)
KERNEL: Mapping[str, tuple[str, str]] = {
    "stack": ("backbone.cli.stack:app",
              "The local single-node Kafka + Apicurio Registry (+ PostgreSQL) on loopback."),
    "topics": ("backbone.cli.topics:app", "Create/align the catalog's topics, or list them."),
    "schemas": ("backbone.cli.schemas:app",
                "Offline FULL_TRANSITIVE gate against git history; register with the registry."),
    "acls": ("backbone.cli.acls:app",
             "Least-privilege ACLs per component, from the topic catalog: plan or apply."),
    "tail": ("backbone.cli.events:tail", "Decoded events of TOPIC as JSON lines."),
    "asyncapi": ("backbone.cli.asyncapi:asyncapi", "AsyncAPI 3.0 document of every topic."),
}


def _entries() -> dict[str, EntryPoint]:
    found = {name: EntryPoint(name, target, GROUP) for name, (target, _) in KERNEL.items()}
    for entry in entry_points(group=GROUP):
        found.setdefault(entry.name, entry)
    return found


def _summary(name: str, entry: EntryPoint) -> str:
    """One line of help without importing the command: the kernel's own, or what the stage's
    command says of itself (its source parsed, not run), else its module's docstring."""
    if name in KERNEL:
        return KERNEL[name][1]
    top, *rest = entry.module.split(".")
    try:
        spec = find_spec(top)  # a stage's top-level package: an empty __init__
        if spec is None or not spec.submodule_search_locations:
            return ""
        base = Path(next(iter(spec.submodule_search_locations))).joinpath(*rest)
        path = base / "__init__.py" if base.is_dir() else base.with_suffix(".py")
        module = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ImportError, ValueError):
        return ""
    doc = _own_help(module, entry.attr) or ast.get_docstring(module) or ""
    first = " ".join(doc.strip().split("\n\n")[0].split())
    # "``backbone dlq list | ...``: dead letters for operators." -> "Dead letters for operators."
    first = re.sub(r"^`+[^`]+`+:\s*", "", first)
    return first[:1].upper() + first[1:]


def _own_help(module: ast.Module, attr: str) -> str | None:
    """The help the entry point's object gives itself, read from the source: a function's
    docstring, or the ``help=`` of ``attr = typer.Typer(...)``."""
    for node in module.body:
        if isinstance(node, ast.FunctionDef) and node.name == attr:
            return ast.get_docstring(node)
        if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
                and any(isinstance(t, ast.Name) and t.id == attr for t in node.targets)):
            for keyword in node.value.keywords:
                if keyword.arg == "help" and isinstance(keyword.value, ast.Constant):
                    return str(keyword.value.value)
    return None


class LazyCommands(TyperGroup):
    """The root group: knows every command by name, imports one only to run it."""

    def list_commands(self, ctx: Any) -> list[str]:
        return sorted(_entries())

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        entry = _entries().get(cmd_name)
        if entry is None:
            return None
        try:
            target = entry.load()
        except Exception as error:  # one broken stage must not take every command down
            print(f"backbone: the `{cmd_name}` commands are unavailable ({entry.value}): "
                  f"{type(error).__name__}: {error}", file=sys.stderr)
            raise typer.Exit(2) from error
        return _as_click(cmd_name, target)

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        rows = [(name, _summary(name, entry)) for name, entry in sorted(_entries().items())]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _as_click(name: str, target: Any) -> Any:
    """A Typer app (a command group) or a function (one command) as a click command."""
    command: Any  # typer.main builds click commands of its own vendored click
    if isinstance(target, typer.Typer):
        # get_group, not get_command: a group of one command (`sink iceberg`, `shipments
        # normalize`) must stay a group, as the commands are documented
        command = typer.main.get_group(target)
    else:
        single = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
        single.command(name)(target)
        command = typer.main.get_command(single)
    command.name = name
    return command


app = typer.Typer(
    name="backbone",
    cls=LazyCommands,
    help="Canonical events on Apache Kafka for distribution ERP, EDI, WMS and carrier feeds.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # plain help for the root: Typer's rich help would load every command for its help text
    rich_markup_mode=None,
)


@app.callback()
def _root() -> None:
    """Canonical events on Apache Kafka for distribution ERP, EDI, WMS and carrier feeds."""
    # here, not in main(): runs before a command, never for --help (settings cost ~0.1 s)
    from backbone import logs
    from backbone.settings import load_settings

    settings = load_settings()
    logs.configure(settings.log_level, json_lines=settings.log_format != "text")


def main() -> None:
    # authlib (pulled in by confluent-kafka's schema_registry, which quixstreams imports) warns
    # about itself on import, after installing an "always" filter for its warnings at import
    # time; ours goes in front of that one. A user of the CLI can do nothing about it.
    with contextlib.suppress(ImportError):
        import authlib.deprecate  # noqa: F401
    warnings.filterwarnings("ignore", message="The httpx module is deprecated")
    try:
        app()
    except Exception as error:
        # imported only now: the clients and the registry client are not free to import
        from backbone.cli.exits import UNUSABLE
        from backbone.clients import ClientConfigError, redact
        from backbone.registry import RegistryAuthError

        if not isinstance(error, RegistryAuthError | ClientConfigError):
            raise
        # our configuration or credentials, whichever command met them: one line, exit 2
        print(f"backbone: {redact(str(error))}", file=sys.stderr)
        raise SystemExit(UNUSABLE) from None
