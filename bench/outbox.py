"""ERP outbox relay rows/s against a plain SELECT + produce loop on the same database server.

Both sides get their own fresh outbox (a new PostgreSQL database, or SQLite file) with the same
ROWS rows (three stock snapshots to one purchase-order row, payloads shaped like
connectors/erp_outbox/sample.sql), their own fresh topics on the same broker, and the same
producer settings (``producers.publisher.producer_config``: idempotent, acks=all).

- relay: what ``backbone connect erp-outbox --db URL --once`` runs — KafkaOffsetStore.load,
  SourceRunner(ErpOutboxConnector) with the CLI's batch size, events routed to fresh topics the
  way ``--route`` does. Rows are claimed (FOR UPDATE SKIP LOCKED + advisory locks), mapped to
  canonical events, Avro-encoded, produced, acknowledged, offsets stored, rows marked published.
- baseline: per batch of the same size, SELECT the unpublished rows, produce each payload's
  bytes keyed by aggregateid, flush, UPDATE published_at, commit. No mapping, no Avro, no offsets.

PostgreSQL comes from BACKBONE_ERP_DB (a server URL whose user may create databases), else a
throwaway ``LocalPostgres`` in a temp folder; without PostgreSQL installed (or with
BENCH_OUTBOX_DB=sqlite) the run uses SQLite files and says so in the result name.
BENCH_OUTBOX_ROWS (default 20000) and BENCH_OUTBOX_ROUNDS (default 3) size the run.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from confluent_kafka import KafkaError, Message, Producer
from confluent_kafka.admin import NewTopic

from backbone.kafka import admin_client
from backbone.serde import AvroSerde
from backbone.stack import StackError
from backbone.stack.postgres import LocalPostgres
from bench.common import endpoints, fresh_topic, report, result
from connectors.erp_outbox import ErpOutboxConnector, OutboxRow, map_row
from connectors.erp_outbox.database import execute_script, schema_file
from connectors.offsets import KafkaOffsetStore
from connectors.runner import SourceRunner, parse_routes
from producers import EventPublisher
from producers.publisher import producer_config

ROWS = int(os.environ.get("BENCH_OUTBOX_ROWS", "20000"))
ROUNDS = int(os.environ.get("BENCH_OUTBOX_ROUNDS", "3"))
BATCH = 1000  # `backbone connect erp-outbox --batch-size` default
TARGET = 0.7


# ---------------------------------------------------------------------------- the outbox rows

def outbox_rows(count: int) -> Iterator[tuple[str, str, str, str, str]]:
    """(id, aggregatetype, aggregateid, type, payload) rows: 3 stock snapshots per PO row."""
    for n in range(count):
        if n % 4 == 3:
            po_number = f"45{n // 8:08d}"
            created = n % 8 == 3
            lines = [{"line": str(10 * (i + 1)), "sku": f"SKU-{(n + i) % 5000:05d}",
                      "vendor_item": f"NW-{n % 90000:05d}", "description": "Ball valve 3/4in",
                      "qty": str(12 + n % 40), "uom": "CA", "unit_price": f"{10 + n % 70}.64"}
                     for i in range(2)]
            payload: dict[str, Any] = {
                "buyer": "ACME-DIST", "po_number": po_number, "po_date": "2026-03-02",
                "currency": "USD", "change_sequence": "0" if created else "1",
                "occurred_at": "2026-03-02T09:14:00-05:00",
                "supplier": {"id": "0614141000012", "id_type": "GLN",
                             "name": "Northwind Industrial Supply"},
                "requested_delivery": "2026-03-12", "lines": lines}
            yield (str(uuid.uuid4()), "PurchaseOrder", f"ACME-DIST|{po_number}",
                   "PurchaseOrderCreated" if created else "PurchaseOrderChanged",
                   json.dumps(payload))
        else:
            sku = f"SKU-{n % 5000:05d}"
            payload = {"sku": sku, "location": "DC-ATL-01", "uom": "EA",
                       "as_of": f"2026-03-02T{n % 24:02d}:00:00-05:00",
                       "snapshot_id": f"ERP-CNT-{n:08d}", "description": "Ball valve 3/4in",
                       "quantities": {"ON_HAND": str(n % 900), "ALLOCATED": str(n % 50),
                                      "AVAILABLE": str(n % 900 - n % 50)}, "full": True}
            yield (str(uuid.uuid4()), "Stock", f"{sku}@DC-ATL-01", "StockSnapshot",
                   json.dumps(payload))


def fill(url: str, count: int) -> None:
    """Create the outbox table at ``url`` and insert ``count`` rows."""
    execute_script(url, schema_file(url))
    if url.startswith("sqlite:///"):
        with closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as lite, lite:
            lite.executemany(
                "INSERT INTO outbox (id, aggregatetype, aggregateid, type, payload) "
                "VALUES (?, ?, ?, ?, ?)", outbox_rows(count))
        return
    import psycopg

    with psycopg.connect(url) as pg, pg.cursor() as cursor, cursor.copy(
            "COPY outbox (id, aggregatetype, aggregateid, type, payload) FROM STDIN") as copy:
        for row in outbox_rows(count):
            copy.write_row(row)
    with psycopg.connect(url, autocommit=True) as pg:
        pg.execute("VACUUM ANALYZE outbox")  # both sides start from the same state


def unpublished(url: str) -> int:
    if url.startswith("sqlite:///"):
        with closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as lite, lite:
            row = lite.execute(
                "SELECT count(*) FROM outbox WHERE published_at IS NULL").fetchone()
        return int(row[0])
    import psycopg

    with psycopg.connect(url) as pg:
        found = pg.execute(
            "SELECT count(*) FROM outbox WHERE published_at IS NULL").fetchone()
    return int(found[0]) if found else -1


# ------------------------------------------------------------------------- fresh databases

class Databases:
    """Fresh, empty outbox databases: on one PostgreSQL server, or SQLite files."""

    def __init__(self, server_url: str | None, folder: Path) -> None:
        self.server_url = server_url
        self.folder = folder
        self.created: list[str] = []

    @property
    def kind(self) -> str:
        return "PostgreSQL" if self.server_url else "SQLite"

    def fresh(self) -> str:
        name = f"bench_outbox_{uuid.uuid4().hex[:10]}"
        if self.server_url is None:
            return f"sqlite:///{self.folder / (name + '.db')}"
        import psycopg

        with psycopg.connect(self.server_url, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return urlunsplit(urlsplit(self.server_url)._replace(path=f"/{name}"))

    def drop_all(self) -> None:
        if self.server_url is None:
            return
        import psycopg

        with psycopg.connect(self.server_url, autocommit=True) as admin:
            for name in self.created:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def databases() -> Iterator[Databases]:
    """BACKBONE_ERP_DB, else a throwaway LocalPostgres, else SQLite files in a temp folder
    (also when BENCH_OUTBOX_DB=sqlite)."""
    folder = Path(tempfile.mkdtemp(prefix="bench-outbox-"))
    server: LocalPostgres | None = None
    url = os.environ.get("BACKBONE_ERP_DB")
    if os.environ.get("BENCH_OUTBOX_DB") == "sqlite":
        url = None
    elif url is None:
        folder.chmod(0o755)  # as root the server runs as the postgres user
        server = LocalPostgres(folder)
        try:
            url = server.up().url
        except StackError as error:
            print(f"bench.outbox: no PostgreSQL ({error}); falling back to SQLite")
            server = None
    found = Databases(url, folder)
    try:
        yield found
    finally:
        found.drop_all()
        if server is not None:
            server.down()
        shutil.rmtree(folder, ignore_errors=True)


# ------------------------------------------------------------------------------- the sides

def fresh_topics(bootstrap: str) -> dict[str, str]:
    """Events (3 partitions each), dead letters, and a compacted offsets topic."""
    names = {kind: fresh_topic(bootstrap, prefix="bench.outbox")
             for kind in ("PurchaseOrderChanged", "InventorySnapshot", "dead_letters")}
    offsets = f"bench.outbox.offsets.{uuid.uuid4().hex[:10]}"
    admin = admin_client(bootstrap)  # kept referenced: a collected client cancels the call
    admin.create_topics([NewTopic(offsets, num_partitions=1, replication_factor=1,
                                  config={"cleanup.policy": "compact"})])[offsets].result(
        timeout=30)
    names["offsets"] = offsets
    return names


def relay(url: str, bootstrap: str, serde: AvroSerde) -> float:
    """Rows/s of the relay draining ``url`` as ``backbone connect erp-outbox --once`` does."""
    topics = fresh_topics(bootstrap)
    routes = parse_routes([f"{kind}={topics[kind]}"
                           for kind in ("PurchaseOrderChanged", "InventorySnapshot")])
    started = time.perf_counter()
    store = KafkaOffsetStore(bootstrap, topic=topics["offsets"])
    store.load()
    connector = ErpOutboxConnector(url, dead_letter_topic=topics["dead_letters"])
    with EventPublisher(bootstrap, serde) as publisher:
        summary = SourceRunner(connector, publisher, store, kafka=bootstrap,
                               routes=routes, batch_size=BATCH,
                               log=lambda _text: None).run(once=True)
    elapsed = time.perf_counter() - started
    if summary.published != ROWS or summary.dead_letters:
        raise RuntimeError(f"relay published {summary.published} events and "
                           f"{summary.dead_letters} dead letters for {ROWS} rows")
    return ROWS / elapsed


PLAIN_COLUMNS = "seq, aggregateid, payload"
ROW_COLUMNS = "seq, id, aggregatetype, aggregateid, type, payload, created_at"
# (topic, key, value) of a selected row
Encode = Callable[[tuple[Any, ...]], tuple[str, str, bytes]]


def plain_encoding(bootstrap: str) -> tuple[str, Encode]:
    """The issue's baseline: the payload's bytes as they are, keyed by aggregateid."""
    name = fresh_topic(bootstrap, prefix="bench.outbox.plain")
    return PLAIN_COLUMNS, lambda row: (name, row[1], str(row[2]).encode())


def mapped_encoding(bootstrap: str, serde: AvroSerde) -> tuple[str, Encode]:
    """The relay's per-row work by hand: map_row + Avro, no runner, futures or headers."""
    routes = parse_routes([f"{kind}={fresh_topic(bootstrap, prefix='bench.outbox.mapped')}"
                           for kind in ("PurchaseOrderChanged", "InventorySnapshot")])
    recorded_at = datetime.now(UTC)

    def encode(row: tuple[Any, ...]) -> tuple[str, str, bytes]:
        seq, id_, aggregatetype, aggregateid, type_, payload, created = row
        created_at = created if isinstance(created, datetime) else datetime.fromisoformat(
            str(created).replace("Z", "+00:00"))
        event = map_row(OutboxRow(int(seq), str(id_), aggregatetype, aggregateid, type_,
                                  str(payload), created_at),
                        instance="erp", recorded_at=recorded_at)
        target = routes[event.event_type]
        return target.name, target.key_for(event) or "", serde.serialize(target, event)
    return ROW_COLUMNS, encode


def _produce(producer: Producer, rows: list[tuple[Any, ...]], encode: Encode,
             failures: list[str]) -> None:
    def on_delivery(error: KafkaError | None, _message: Message) -> None:
        if error is not None:
            failures.append(error.str())

    for row in rows:
        name, key, value = encode(row)
        while True:
            try:
                producer.produce(name, value=value, key=key, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    if producer.flush(60) or failures:
        raise RuntimeError(f"baseline: deliveries failed: {failures[:3]}")


def baseline(url: str, bootstrap: str, encoding: tuple[str, Encode]) -> float:
    """Rows/s of a hand-written SELECT + produce + UPDATE loop draining ``url``."""
    columns, encode = encoding
    failures: list[str] = []
    started = time.perf_counter()
    producer = Producer(producer_config(bootstrap))
    relayed = 0
    if url.startswith("sqlite:///"):
        connection = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        while True:
            connection.execute("BEGIN IMMEDIATE")
            rows = connection.execute(
                f"SELECT {columns} FROM outbox WHERE published_at IS NULL "
                "ORDER BY seq LIMIT ?", (BATCH,)).fetchall()
            if not rows:
                connection.execute("ROLLBACK")
                break
            _produce(producer, rows, encode, failures)
            connection.executemany("UPDATE outbox SET published_at = ? WHERE seq = ?",
                                   [(time.time(), row[0]) for row in rows])
            connection.execute("COMMIT")
            relayed += len(rows)
        connection.close()
    else:
        import psycopg

        selected = columns.replace("payload", "payload::text").replace(" id,", " id::text,")
        with psycopg.connect(url) as pg:
            while True:
                rows = pg.execute(
                    f"SELECT {selected} FROM outbox "
                    "WHERE published_at IS NULL ORDER BY seq LIMIT %s", (BATCH,)).fetchall()
                if not rows:
                    pg.rollback()
                    break
                _produce(producer, rows, encode, failures)
                pg.execute("UPDATE outbox SET published_at = now() WHERE seq = ANY(%s)",
                           ([row[0] for row in rows],))
                pg.commit()
                relayed += len(rows)
    elapsed = time.perf_counter() - started
    if relayed != ROWS:
        raise RuntimeError(f"baseline relayed {relayed} rows of {ROWS}")
    return ROWS / elapsed


# ------------------------------------------------------------------------------------ run

def measure(found: Databases, side: Callable[[str], float]) -> float:
    """Rows/s of ``side`` draining a fresh outbox of ROWS rows; checks nothing is left."""
    url = found.fresh()
    fill(url, ROWS)
    rate = side(url)
    left = unpublished(url)
    if left:
        raise RuntimeError(f"{left} rows left unpublished in {url}")
    return rate


def run() -> list[dict[str, Any]]:
    where = endpoints()
    bootstrap = where.bootstrap_servers
    ours: list[float] = []
    plain: list[float] = []
    mapped: list[float] = []
    with databases() as found, where.registry() as registry:
        serde = AvroSerde(registry)
        for _ in range(ROUNDS):  # interleaved so machine drift hits all three alike; medians
            ours.append(measure(found, lambda url: relay(url, bootstrap, serde)))
            plain.append(measure(
                found, lambda url: baseline(url, bootstrap, plain_encoding(bootstrap))))
            mapped.append(measure(
                found, lambda url: baseline(url, bootstrap, mapped_encoding(bootstrap, serde))))
        kind = found.kind
    print(f"bench.outbox: {kind}, {ROWS} rows per side, {ROUNDS} rounds; rows/s: relay "
          f"{[round(r) for r in ours]}, plain loop {[round(r) for r in plain]}, "
          f"map+Avro loop {[round(r) for r in mapped]}")
    relay_rate = statistics.median(ours)
    return [
        result(f"outbox: relay vs plain loop ({kind})", relay_rate,
               statistics.median(plain), TARGET, "rows/s", "SELECT+produce loop"),
        # Not in the issue: the same loop doing the relay's mapping + Avro by hand, i.e. what
        # the runner's guarantees (locks, futures, offsets, headers) cost on top of that work.
        result(f"outbox: relay vs map+Avro loop ({kind})", relay_rate,
               statistics.median(mapped), TARGET, "rows/s", "SELECT+map+Avro loop"),
    ]

if __name__ == "__main__":
    report(run())
