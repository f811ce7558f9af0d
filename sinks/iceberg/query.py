"""SQL over the tables: pyiceberg scans each table the query names into Arrow, DuckDB runs it.

DuckDB's own ``iceberg`` extension is downloaded at run time, which these machines cannot do;
reading through pyiceberg needs nothing beyond the Python packages. Only the tables whose
names appear in the SQL are scanned. The tables of the four normalized streams (a current
state per key) also get a ``<table>_latest`` view: the newest row per Kafka key.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, time
from decimal import Decimal
from typing import Any

import duckdb
from pyiceberg.catalog import Catalog

from backbone.topics import CATALOG, PROCESSORS
from sinks.iceberg.schema import table_name
from sinks.iceberg.tables import table_names

#: The normalized streams (what the processors derive: a current state per key) get a
#: ``_latest`` view.
STATUS_TABLES = frozenset(
    table_name(entry.name) for entry in CATALOG
    if entry.record and entry.producers
    and all(producer.replace("_", "-") in PROCESSORS for producer in entry.producers))

LATEST_VIEW = """
CREATE VIEW {table}_latest AS
SELECT * FROM {table}
QUALIFY row_number() OVER (PARTITION BY kafka_key ORDER BY kafka_offset DESC) = 1
"""


def connect(catalog: Catalog, namespace: str, sql: str) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with every table ``sql`` names registered (and its _latest view)."""
    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'")  # timestamps print as the tables hold them
    for name in table_names(catalog, namespace):
        if not re.search(rf"\b{re.escape(name)}(_latest)?\b", sql, re.IGNORECASE):
            continue
        arrow = catalog.load_table((namespace, name)).scan().to_arrow()
        connection.register(name, arrow)
        if name in STATUS_TABLES:
            connection.execute(LATEST_VIEW.format(table=name))
    return connection


def run(catalog: Catalog, namespace: str, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Column names and rows of ``sql`` over the tables."""
    connection = connect(catalog, namespace, sql)
    try:
        result = connection.execute(sql)
        columns = [column[0] for column in result.description or []]
        return columns, result.fetchall()
    finally:
        connection.close()


def json_lines(columns: list[str], rows: list[tuple[Any, ...]]) -> Iterator[str]:
    """Rows as JSON lines in `backbone tail`'s conventions: decimals as strings, timestamps
    ISO-8601 UTC with milliseconds and Z, bytes base64."""
    for row in rows:
        yield json.dumps({name: _plain(value) for name, value in zip(columns, row, strict=True)})


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def table_text(columns: list[str], rows: list[tuple[Any, ...]], limit: int = 200) -> str:
    """Rows as an aligned text table (the first ``limit``; the count is always printed)."""
    shown = [[_cell(value) for value in row] for row in rows[:limit]]
    widths = [max([len(name), *(len(row[i]) for row in shown)]) for i, name in enumerate(columns)]
    lines = ["  ".join(name.ljust(width) for name, width in zip(columns, widths, strict=True)),
             "  ".join("-" * width for width in widths)]
    lines += ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
              for row in shown]
    more = f", {limit} shown" if len(rows) > limit else ""
    lines.append(f"({len(rows)} rows{more})")
    return "\n".join(line.rstrip() for line in lines)


def _cell(value: Any) -> str:
    plain = _plain(value)
    text = json.dumps(plain) if isinstance(plain, dict | list) else \
        "" if plain is None else str(plain)
    return text if len(text) <= 60 else text[:57] + "..."
