"""``backbone schemas check | register``: the compatibility gate and registration."""

from __future__ import annotations

import typer

from backbone import schemas
from backbone.cli.context import endpoints
from backbone.cli.exits import fail
from backbone.registry import RegistryError
from backbone.schema_gate import SchemaGateError, gate
from backbone.topics import CATALOG

app = typer.Typer(help="Avro contracts: offline gate and registration.", no_args_is_help=True)


@app.command()
def check(
    against: str = typer.Option("HEAD", "--against", help="git ref holding the previous versions"),
    mode: str = typer.Option("FULL_TRANSITIVE", "--mode", help="compatibility mode to enforce"),
) -> None:
    """Compare schemas/ with every committed version at REF; non-zero exit and the reason."""
    try:
        report = gate(schemas.SCHEMA_DIR, ref=against, mode=mode)
    except SchemaGateError as error:
        fail(str(error))
    for problem in report.problems:
        print(problem)
    if not report.ok:
        fail(f"{len(report.problems)} incompatible change(s) against {against} ({mode})")
    print(f"schemas compatible with {against} ({mode}): {report.checked} checked")


@app.command()
def register() -> None:
    """Register every catalog topic's schema and set its subject's compatibility mode."""
    registry = endpoints().registry()
    failed = 0
    for topic in CATALOG:
        if topic.record is None:
            continue
        try:
            registry.set_compatibility(topic.value_subject, topic.compatibility)
            schema_id = registry.register(topic.value_subject, schemas.schema_text(topic.record))
        except RegistryError as error:
            failed += 1
            print(f"refused   {topic.value_subject}: {error}")
            continue
        print(f"registered {topic.value_subject} id {schema_id} ({topic.compatibility})")
    if failed:
        fail(f"{failed} subject(s) refused the current schema", code=1)
