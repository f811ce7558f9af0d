"""``backbone sink iceberg`` (topics -> tables, exactly once; orphan clean-up) and
``backbone query "SQL"`` (DuckDB over the tables).

pyiceberg, pyarrow and DuckDB are imported when one of these commands runs, not when the
``backbone`` command loads its stages (they would add most of a second to every command).
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING

import typer

from backbone.cli import context
from backbone.cli.exits import fail
from backbone.errors import BackboneError
from backbone.settings import Settings, load_settings
from backbone.topics import topic as catalog_topic

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog

    from sinks.iceberg.sink import SinkOptions

app = typer.Typer(name="sink", add_completion=False, no_args_is_help=True,
                  help="Write canonical topics into stores analysts query.")

_CATALOG = typer.Option(None, "--catalog", metavar="URI",
                        help="sqlite:///..., postgresql://... or http(s)://... (REST). "
                             "Default: BACKBONE_ICEBERG_CATALOG, else SQLite under .backbone/.")
_WAREHOUSE = typer.Option(None, "--warehouse", metavar="PATH",
                          help="Folder or s3://... for data files. Default: "
                               "BACKBONE_ICEBERG_WAREHOUSE, else .backbone/iceberg/warehouse.")


@app.command("iceberg")
def iceberg(
    topics: list[str] | None = typer.Option(
        None, "--topics", metavar="T,...",
        help="Catalog topics to write, comma-separated or repeated (default: every canonical "
             "topic)."),
    catalog: str | None = _CATALOG,
    warehouse: str | None = _WAREHOUSE,
    once: bool = typer.Option(False, "--once", help="Read every partition to its end, "
                                                    "commit, stop."),
    until_idle: float = typer.Option(0.0, "--until-idle", metavar="S",
                                     help="Stop after S seconds without a record (0: never)."),
    clean_orphans: bool = typer.Option(
        False, "--clean-orphans",
        help="Instead of sinking: remove files no snapshot refers to (left by a crash)."),
    older_than: float = typer.Option(3600.0, "--older-than", metavar="S",
                                     help="--clean-orphans: only files older than S seconds."),
    dry_run: bool = typer.Option(False, "--dry-run", help="--clean-orphans: list, remove "
                                                          "nothing."),
) -> None:
    """Topics -> Apache Iceberg tables, exactly once (offsets live in each snapshot)."""
    if once and until_idle:
        fail("--once and --until-idle exclude each other: choose one")
    if until_idle < 0 or older_than < 0:
        fail("--until-idle and --older-than take a number of seconds >= 0")
    settings = load_settings()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    from sinks.iceberg.metrics import SinkMetrics
    from sinks.iceberg.schema import default_topics, sink_topics
    from sinks.iceberg.sink import IcebergSink

    names = [name.strip() for option in topics or () for name in option.split(",")
             if name.strip()] or default_topics()
    try:
        chosen = sink_topics(names, settings.iceberg_topic_prefix)
    except ValueError as error:
        fail(f"--topics: {error}")
    tables = _catalog(settings, catalog, warehouse)
    if clean_orphans:
        _clean(tables, settings.iceberg_namespace, older_than, dry_run)
        return
    metrics = SinkMetrics()
    metrics.serve(settings.metrics_port)
    sink = IcebergSink(tables, chosen, context.serde(settings), context.kafka(settings),
                       _options(settings), metrics)
    try:
        summary = sink.run(once=once, until_idle_s=until_idle or None)
    except (ValueError, BackboneError) as error:
        fail(f"iceberg sink: {error}")
    except Exception as error:  # registry, catalog or storage gone: say so; the trace is logged
        logging.getLogger(__name__).exception("iceberg sink stopped")
        fail(f"iceberg sink stopped: {type(error).__name__}: {error}; nothing uncommitted is "
             "lost: a restart reads on from the offsets in the tables")
    written = ", ".join(f"{table} {rows}" for table, rows in sorted(summary.rows_by_table.items()))
    print(f"iceberg sink: {summary.rows} rows in {summary.commits} commits"
          f"{' (' + written + ')' if written else ''}; {summary.dead_letters} dead letters",
          file=sys.stderr)


def _options(settings: Settings) -> SinkOptions:
    from sinks.iceberg.sink import SinkOptions

    dead_letters = catalog_topic("iceberg-sink.dlq.v1").name
    prefix = settings.iceberg_topic_prefix
    return SinkOptions(
        namespace=settings.iceberg_namespace,
        commit_interval_s=settings.iceberg_commit_interval_s,
        max_batch_rows=settings.iceberg_max_batch_rows,
        dead_letter_topic=f"{prefix}.{dead_letters}" if prefix else dead_letters,
        pause_before_commit=settings.iceberg_pause_before_commit,
    )


def _catalog(settings: Settings, catalog: str | None, warehouse: str | None) -> Catalog:
    from sinks.iceberg.tables import catalog_location, open_catalog

    try:
        return open_catalog(settings, catalog, warehouse)
    except Exception as error:  # pyiceberg and SQLAlchemy raise many kinds; name the place
        uri, _ = catalog_location(settings, catalog, warehouse)
        fail(f"Iceberg catalog {uri}: cannot open it: {type(error).__name__}: {error}")


def _clean(tables: Catalog, namespace: str, older_than: float, dry_run: bool) -> None:
    from sinks.iceberg import maintenance

    for report in maintenance.remove_orphans(tables, namespace, older_than, dry_run):
        verb = "would remove" if dry_run else "removed"
        young = f", kept {report.kept_young} younger than {older_than:g}s" \
            if report.kept_young else ""
        print(f"{report.table}: {verb} {len(report.removed)} orphan files{young}")
        for path in report.removed:
            print(f"  {path}")


def query(
    statement: str = typer.Argument("", metavar="SQL", help="DuckDB SQL over the tables."),
    json_lines: bool = typer.Option(False, "--json", help="JSON lines (as tail prints)."),
    tables: bool = typer.Option(False, "--tables", help="List the tables, their rows and "
                                                       "metadata files (for DuckDB's "
                                                       "iceberg_scan), then stop."),
    catalog: str | None = _CATALOG,
    warehouse: str | None = _WAREHOUSE,
) -> None:
    """Run SQL over the Iceberg tables with DuckDB (a table per topic, named by its entity)."""
    from sinks.iceberg import query as sql
    from sinks.iceberg.tables import table_names, table_summary

    settings = load_settings()
    lake = _catalog(settings, catalog, warehouse)
    namespace = settings.iceberg_namespace
    if tables:
        for name in table_names(lake, namespace):
            summary = table_summary(lake.load_table((namespace, name)))
            print(f"{summary['table']}\t{summary['rows']} rows\t{summary['metadata']}")
        return
    if not statement.strip():
        fail('give the SQL to run, e.g. backbone query "SELECT count(*) FROM order_line_status"')
    try:
        columns, rows = sql.run(lake, namespace, statement)
    except Exception as error:  # DuckDB's parser/binder errors name the problem themselves
        known = table_names(lake, namespace)
        fail(f"query: {type(error).__name__}: {error}\ntables: {', '.join(known) or 'none yet'} "
             "(and <table>_latest for the normalized streams); `backbone sink iceberg` fills "
             "them")
    if json_lines:
        for line in sql.json_lines(columns, rows):
            print(line)
        return
    print(sql.table_text(columns, rows))
