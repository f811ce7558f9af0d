"""Faults while the ERP outbox relay runs on the three-node cluster: PostgreSQL restarted, the
partition leader SIGKILLed, and the leader SIGSTOPped for 30 s (a grey failure). The ERP keeps
inserting rows throughout (waiting while its database is down). Nothing is lost; the relay is
at least once, so a row may be published again after a fault, always with the same idempotency
key (its event id is derived from it).

Bound stated: at most one claimed batch (--batch-size, here 100) republished per fault.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from backbone.clients import KafkaClients
from backbone.stack.postgres import LocalPostgres
from backbone.stack.processes import free_port
from connectors.erp_outbox.database import SCHEMA_DIR, execute_script
from connectors.erp_outbox.mapping import event_id_for
from connectors.offsets import OFFSETS_TOPIC, KafkaOffsetStore
from connectors.wms_feed.mapping import EVENT_ID_NAMESPACE as WMS_EVENT_IDS
from tests.reliability.checker import Sent, check, header, read_committed
from tests.reliability.cluster import PAUSE_S, Cluster, port_base

# faults wait out failovers and timeouts; on a loaded 2-core machine a cell can take minutes
pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

BACKBONE = str(Path(sys.executable).with_name("backbone"))
SNAPSHOTS = "inventory.snapshot.v1"
N, KEYS, BATCH = 2_000, 200, 100
INSERT_S = 10.0  # the ERP writes its N rows over this long


def insert_rows(url: str, sent: list[Sent]) -> None:
    """The ERP: N StockSnapshot rows, 20 per transaction, evenly over INSERT_S; while its
    database is down it waits and tries again (nothing skipped)."""
    started = time.monotonic()
    for first in range(0, N, 20):
        rows = []
        for n in range(first, first + 20):
            key = f"SKU-{n % KEYS:04d}@DC-ATL-01"
            payload = {"sku": key.split("@")[0], "location": "DC-ATL-01", "uom": "EA",
                       "as_of": "2026-03-02T06:00:00Z", "quantities": {"ON_HAND": str(n)}}
            rows.append((str(uuid.uuid4()), key, json.dumps(payload)))  # fresh per run
        while True:
            try:
                with psycopg.connect(url, connect_timeout=2) as connection:
                    connection.cursor().executemany(
                        "INSERT INTO outbox (id, aggregatetype, aggregateid, type, payload) "
                        "VALUES (%s, 'Stock', %s, 'StockSnapshot', %s)", rows)
                break
            except psycopg.OperationalError:
                time.sleep(0.3)
        sent.extend(Sent(event_id_for(f"erp:outbox:{row_id}"), key, n)
                    for n, (row_id, key, _) in enumerate(rows, start=first))
        pause = started + INSERT_S * (first + 20) / N - time.monotonic()
        if pause > 0:
            time.sleep(pause)


def published(url: str) -> int:
    try:
        with psycopg.connect(url, connect_timeout=2) as connection:
            row = connection.execute(
                "SELECT count(*) FROM outbox WHERE published_at IS NOT NULL").fetchone()
        return int(row[0]) if row else 0
    except psycopg.OperationalError:
        return -1


def postgres_restart(cluster: Cluster, database: LocalPostgres) -> Callable[[], None]:
    def fault() -> None:
        database.down()
        time.sleep(3)
        database.up()

    return fault


def leader_kill(cluster: Cluster, database: LocalPostgres) -> Callable[[], None]:
    leader = cluster.leader_of(SNAPSHOTS)

    def fault() -> None:
        cluster.kill(leader)
        time.sleep(5)
        cluster.restart(leader)

    return fault


def leader_pause(cluster: Cluster, database: LocalPostgres) -> Callable[[], None]:
    leader = cluster.leader_of(SNAPSHOTS)

    def fault() -> None:
        with cluster.paused(leader):  # a grey failure: alive for the OS, silent for the cluster
            time.sleep(PAUSE_S)

    return fault


FAULTS = {"PostgreSQL restart": postgres_restart, "leader SIGKILL + restart": leader_kill,
          f"leader SIGSTOP {PAUSE_S:.0f}s": leader_pause}


@pytest.mark.parametrize("fault_name", list(FAULTS))
def test_outbox_relay_loses_nothing(healthy: Cluster, tmp_path: Path, fault_name: str) -> None:
    database = LocalPostgres(tmp_path / "pg", port=port_base() + 80 if port_base() else
                             free_port())
    url = database.up().url
    try:
        execute_script(url, SCHEMA_DIR / "schema.sql")
        env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": healthy.bootstrap,
               "SCHEMA_REGISTRY_URL": healthy.registry_url, "BACKBONE_LOG_FORMAT": "text"}
        log = tmp_path / "relay.log"
        with log.open("ab") as out:
            relay = subprocess.Popen([BACKBONE, "connect", "erp-outbox", "--db", url,
                                      "--batch-size", str(BATCH)], env=env, stdout=out,
                                     stderr=subprocess.STDOUT)
        sent: list[Sent] = []
        erp = threading.Thread(target=insert_rows, args=(url, sent))
        erp.start()
        while len(sent) < N // 3 or published(url) <= 0:  # the relay is writing
            assert relay.poll() is None, log.read_text()[-3000:]
            time.sleep(0.05)
        fault_at = time.monotonic()
        before = published(url)
        FAULTS[fault_name](healthy, database)()
        recovered_at = None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            count = published(url)
            if recovered_at is None and count > before:
                recovered_at = time.monotonic()
            if count == N:
                break
            assert relay.poll() is None, log.read_text()[-3000:]
            time.sleep(0.2)
        erp.join()
        relay.terminate()
        relay.wait(timeout=30)
        assert published(url) == N, log.read_text()[-3000:]
    finally:
        database.down()
    wanted = {s.id for s in sent}
    ids = read_committed({"bootstrap.servers": healthy.bootstrap}, [SNAPSHOTS],
                         header("event_id"), expect=N)
    report = check(fault_name, f"outbox relay, N={N}", sent, [i for i in ids if i in wanted],
                   recovery_s=None if recovered_at is None else recovered_at - fault_at)
    report.note = f"at least once: duplicates bounded by one batch ({BATCH}) per fault"
    report.record()
    assert not report.lost, report.summary()
    assert report.duplicates <= BATCH, report.summary()
    assert report.reordered == 0, report.summary()


WMS_HEADER = "record_type,record_id,occurred_at,site,sku,qty,uom,movement_type,reason\n"
FILES, ROWS_PER_FILE = 40, 50  # N = 2,000


def test_wms_feed_under_a_leader_kill_loses_nothing(healthy: Cluster, tmp_path: Path) -> None:
    """The WMS drops 40 files of 50 movements over INSERT_S while `connect wms-feed` runs;
    the leader of inventory.movement.v1 is SIGKILLed and restarted meanwhile. At least once:
    a file whose rows were delivered but not yet recorded is resumed after its last
    recorded row, so duplicates stay within one file's rows (the bound asserted)."""
    run = uuid.uuid4().hex[:8]
    inbox, staging = tmp_path / "inbox", tmp_path / "staging"
    inbox.mkdir()
    staging.mkdir()
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": healthy.bootstrap,
           "SCHEMA_REGISTRY_URL": healthy.registry_url, "BACKBONE_LOG_FORMAT": "text"}
    log = tmp_path / "wms.log"
    with log.open("ab") as out:
        feed = subprocess.Popen([BACKBONE, "connect", "wms-feed", "--inbox", str(inbox)],
                                env=env, stdout=out, stderr=subprocess.STDOUT)
    sent: list[Sent] = []
    leader = healthy.leader_of("inventory.movement.v1")
    fault_at = 0.0
    try:
        started = time.monotonic()
        for k in range(FILES):
            lines = []
            for n in range(k * ROWS_PER_FILE, (k + 1) * ROWS_PER_FILE):
                record_id, sku = f"{run}-{n}", f"SKU-{n % 100:03d}"
                lines.append(f"MOVEMENT,{record_id},2026-03-02T11:05:00Z,DC1,{sku},-1,EA,"
                             "ADJUSTMENT,CC\n")
                sent.append(Sent(str(uuid.uuid5(WMS_EVENT_IDS, f"wms:movement:{record_id}:{sku}")),
                                 f"{sku}@DC1", n))
            staged = staging / f"feed-{run}-{k:03d}.csv"
            staged.write_text(WMS_HEADER + "".join(lines))
            os.replace(staged, inbox / staged.name)  # appears whole
            if k == FILES // 3:
                fault_at = time.monotonic()
                healthy.kill(leader)
            if k == FILES // 3 + 10:
                healthy.restart(leader)
            pause = started + INSERT_S * (k + 1) / FILES - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        deadline = time.monotonic() + 120
        while any(inbox.glob("*.csv")) and time.monotonic() < deadline:
            assert feed.poll() is None, log.read_text()[-3000:]
            time.sleep(0.2)
        assert not any(inbox.glob("*.csv")), "files left in the inbox"
    finally:
        feed.terminate()
        feed.wait(timeout=30)
    wanted = {s.id for s in sent}
    ids = read_committed({"bootstrap.servers": healthy.bootstrap}, ["inventory.movement.v1"],
                         header("event_id"), expect=len(sent))
    report = check("leader SIGKILL + restart", f"WMS feed, N={len(sent)}", sent,
                   [i for i in ids if i in wanted], recovery_s=None)
    report.note = (f"at least once: duplicates bounded by one file ({ROWS_PER_FILE} rows); "
                   f"fault at {fault_at - started:.1f}s")
    report.record()
    assert not report.lost, report.summary()
    assert report.duplicates <= ROWS_PER_FILE, report.summary()
    assert report.reordered == 0, report.summary()


def test_a_connector_starts_while_its_offsets_leader_is_dead(healthy: Cluster) -> None:
    """A connector (re)started while the broker leading its offsets partitions is down reads
    its stored offsets anyway, once the cluster has elected new leaders: it neither dies at
    start-up nor starts from nothing (which would republish everything)."""
    connector = f"fault-{uuid.uuid4().hex[:8]}"
    kafka = KafkaClients(healthy.bootstrap)
    written = KafkaOffsetStore(kafka)
    written.commit(connector, [({"file": f"feed-{n}.csv"}, {"row": n}) for n in range(20)])
    leader = healthy.leader_of(OFFSETS_TOPIC)
    healthy.kill(leader)
    restarted = KafkaOffsetStore(kafka, timeout_s=60)
    restarted.load()  # before any new leader is elected
    assert {(p["file"], o["row"]) for p, o in restarted.stored(connector)} == {
        (f"feed-{n}.csv", n) for n in range(20)}
