"""The outbox table in PostgreSQL (psycopg 3) or SQLite: claim rows, mark them published.

A claim opens a transaction that lasts until ``mark_published`` (commit) or ``release``
(rollback), so a relay that dies in between leaves its rows unpublished for the next one.

PostgreSQL, several relays on one database: rows are claimed with ``FOR UPDATE SKIP LOCKED``
(a row another relay holds is skipped, never waited for, never read twice), and each claim also
takes a transaction-scoped advisory lock on the aggregate's bucket (hash of aggregatetype and
aggregateid, 1024 buckets) and skips rows whose bucket another relay holds. So all unpublished
rows of one aggregate go to one relay at a time, and per-aggregate order survives several
relays. A row marked published by a relay that committed after our snapshot is re-checked by
PostgreSQL under the row lock and dropped (``published_at IS NULL`` no longer holds).

SQLite has one writer: ``BEGIN IMMEDIATE`` takes the write lock for the claim, so a second relay
(or the ERP) waits for it; keep one relay per SQLite file.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit, urlunsplit

from connectors.erp_outbox.mapping import OutboxRow

T = TypeVar("T")
log = logging.getLogger(__name__)
SCHEMA_DIR = Path(__file__).resolve().parent
TABLE = "outbox"
# pg advisory lock namespace of the relay (first key of the two-key form), and buckets.
ADVISORY_NAMESPACE = 0x0B0B
AGGREGATE_BUCKETS = 1024

_PG_CLAIM = f"""
SELECT seq, id::text, aggregatetype, aggregateid, type, payload::text, created_at
FROM {TABLE}
WHERE published_at IS NULL
  AND pg_try_advisory_xact_lock({ADVISORY_NAMESPACE},
        hashtext(aggregatetype || '|' || aggregateid) & {AGGREGATE_BUCKETS - 1})
ORDER BY seq
LIMIT %s
FOR UPDATE SKIP LOCKED
"""


class OutboxError(RuntimeError):
    """The database could not be opened or has no usable outbox table; ``str()`` says why."""


class OutboxTable(Protocol):
    """What the relay's task needs from a database."""

    location: str

    def claim(self, limit: int) -> list[OutboxRow]: ...
    def mark_published(self, seqs: Sequence[int]) -> None: ...
    def release(self) -> None: ...
    def close(self) -> None: ...


def open_outbox(url: str) -> OutboxTable:
    """``postgresql://...`` (or ``postgres://``) or ``sqlite:///relative`` / ``sqlite:////abs``."""
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresOutbox(url)
    if url.startswith("sqlite:///"):
        return SqliteOutbox(Path(url.removeprefix("sqlite:///")))
    raise OutboxError(
        f"--db {redact(url)!r} is neither postgresql://user@host:port/db nor sqlite:///path")


def redact(url: str) -> str:
    """``url`` without its password: what messages and source partitions show."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def schema_file(url: str) -> Path:
    """The DDL for ``url``'s kind of database."""
    return SCHEMA_DIR / ("schema.sql" if url.startswith("postgres") else "schema.sqlite.sql")


def execute_script(url: str, path: Path) -> None:
    """Run a SQL file (the schema, the sample) against ``url`` in one transaction."""
    script = path.read_text()
    if url.startswith("sqlite:///"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as connection:
            connection.executescript(script)
        return
    import psycopg

    with psycopg.connect(url) as connection:
        connection.execute(script.encode())


class PostgresOutbox:
    """The outbox table of a PostgreSQL database.

    A lost connection (a restarted or failed-over server) is re-opened, retrying every second
    for up to ``reconnect_timeout_s``; beyond that OutboxError says so. Rows claimed on the
    lost connection are free again (their transaction is gone): delivered ones are still
    marked published after the reconnect; the others are claimed again, so at worst an event
    is published twice with the same idempotency key, never lost.
    """

    def __init__(self, url: str, reconnect_timeout_s: float = 60.0) -> None:
        self.location = redact(url)
        self._url = url
        self.reconnect_timeout_s = reconnect_timeout_s
        self._connection = self._connect()
        row = self._connection.execute("SELECT to_regclass(%s)", (TABLE,)).fetchone()
        self._connection.rollback()
        if row is None or row[0] is None:
            self._connection.close()
            raise OutboxError(
                f"{self.location} has no table {TABLE!r}; create it with "
                f"connectors/erp_outbox/schema.sql (psql -f) or --create-schema")

    def claim(self, limit: int) -> list[OutboxRow]:
        rows = self._again_after_reconnect(
            lambda: self._connection.execute(_PG_CLAIM, (limit,)).fetchall())
        if not rows:
            self.release()  # drop the advisory locks taken while scanning
        return [_row(*row) for row in rows]

    def mark_published(self, seqs: Sequence[int]) -> None:
        def mark() -> None:
            self._connection.execute(
                f"UPDATE {TABLE} SET published_at = now() WHERE seq = ANY(%s)", (list(seqs),))
            self._connection.commit()

        self._again_after_reconnect(mark)

    def release(self) -> None:
        if not self._connection.broken:
            self._again_after_reconnect(self._connection.rollback)

    def close(self) -> None:
        self._connection.close()

    def _connect(self) -> Any:
        import psycopg

        try:
            return psycopg.connect(self._url, autocommit=False)
        except psycopg.Error as error:
            raise OutboxError(f"cannot connect to {self.location}: {error}".strip()) from None

    def _again_after_reconnect(self, work: Callable[[], T]) -> T:
        import psycopg

        try:
            return work()
        except psycopg.OperationalError as error:
            if not self._connection.broken:
                raise  # the server answered: a real error, not a lost connection
            self._reconnect(error)
            return work()

    def _reconnect(self, error: Exception) -> None:
        deadline = time.monotonic() + self.reconnect_timeout_s
        log.warning("lost the connection to %s (%s); reconnecting", self.location,
                    str(error).strip())
        while True:
            try:
                self._connection = self._connect()
                return
            except OutboxError:
                if time.monotonic() >= deadline:
                    raise OutboxError(
                        f"lost the connection to {self.location} ({str(error).strip()}) and "
                        f"could not reconnect within {self.reconnect_timeout_s:.0f}s; is the "
                        "database up?") from None
                time.sleep(1.0)


class SqliteOutbox:
    """The outbox table of a SQLite file."""

    def __init__(self, path: Path) -> None:
        self.location = f"sqlite:///{path}"
        if not path.is_file():
            raise OutboxError(f"{self.location}: no such database file; create it with "
                              "--create-schema or connectors/erp_outbox/schema.sqlite.sql")
        # Transactions are explicit (BEGIN IMMEDIATE ... COMMIT), hence isolation_level=None.
        self._connection = sqlite3.connect(path, isolation_level=None, timeout=30.0)
        found = self._connection.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (TABLE,)).fetchone()
        if found is None:
            self._connection.close()
            raise OutboxError(f"{self.location} has no table {TABLE!r}; create it with "
                              "connectors/erp_outbox/schema.sqlite.sql or --create-schema")
        self._open = False

    def claim(self, limit: int) -> list[OutboxRow]:
        if not self._open:
            self._connection.execute("BEGIN IMMEDIATE")
            self._open = True
        rows = self._connection.execute(
            f"SELECT seq, id, aggregatetype, aggregateid, type, payload, created_at FROM {TABLE} "
            "WHERE published_at IS NULL ORDER BY seq LIMIT ?", (limit,)).fetchall()
        if not rows:
            self.release()
        return [_row(*row) for row in rows]

    def mark_published(self, seqs: Sequence[int]) -> None:
        now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        self._connection.executemany(
            f"UPDATE {TABLE} SET published_at = ? WHERE seq = ?", [(now, s) for s in seqs])
        self._connection.execute("COMMIT")
        self._open = False

    def release(self) -> None:
        if self._open:
            self._connection.execute("ROLLBACK")
            self._open = False

    def close(self) -> None:
        self.release()
        self._connection.close()


def _row(seq: int, id_: Any, aggregatetype: str, aggregateid: str, type_: str, payload: str,
         created_at: Any) -> OutboxRow:
    created = created_at if isinstance(created_at, datetime) else _parse_time(str(created_at))
    return OutboxRow(int(seq), str(id_), aggregatetype, aggregateid, type_, payload, created)


def _parse_time(text: str) -> datetime:
    parsed = datetime.fromisoformat(text.replace(" ", "T"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
