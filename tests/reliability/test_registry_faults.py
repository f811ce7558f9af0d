"""The schema registry down while a connector publishes (the ERP outbox relay, a fresh
process, so it has no schema id cached and must ask the registry): it waits and retries,
bounded; nothing is lost and nothing is dead-lettered for it. Beyond the bound the run fails
with a message saying so.

The registry is SIGSTOPped (it accepts connections and never answers, the worst case for a
client: every request runs into its 10 s timeout) for 30 s (BACKBONE_RELIABILITY_PAUSE_S).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from backbone.clients import KafkaClients
from backbone.errors import TransientError
from backbone.registry import SchemaRegistry
from backbone.serde import AvroSerde
from backbone.stack.postgres import LocalPostgres
from backbone.stack.processes import free_port
from connectors.erp_outbox import ErpOutboxConnector
from connectors.erp_outbox.database import SCHEMA_DIR, execute_script
from connectors.erp_outbox.mapping import event_id_for
from connectors.offsets import KafkaOffsetStore
from connectors.runner import SourceRunner
from producers import EventPublisher
from tests.reliability.checker import Sent, check, header, read_committed
from tests.reliability.cluster import PAUSE_S, Cluster, port_base
from tests.reliability.test_connector_faults import published

# faults wait out failovers and timeouts; on a loaded 2-core machine a cell can take minutes
pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

BACKBONE = str(Path(sys.executable).with_name("backbone"))
SNAPSHOTS = "inventory.snapshot.v1"
N = 2_000


def rows(url: str, count: int, first: int) -> list[Sent]:
    sent = []
    with psycopg.connect(url) as connection:
        for n in range(first, first + count):
            key = f"SKU-R{n % 100:03d}@DC-ATL-01"
            row_id = str(uuid.uuid4())  # fresh per run: the topic is shared by the session
            connection.execute(
                "INSERT INTO outbox (id, aggregatetype, aggregateid, type, payload) VALUES "
                "(%s, 'Stock', %s, 'StockSnapshot', %s)",
                (row_id, key, json.dumps({
                    "sku": key.split("@")[0], "location": "DC-ATL-01", "uom": "EA",
                    "as_of": "2026-03-02T06:00:00Z", "quantities": {"ON_HAND": str(n)}})))
            sent.append(Sent(event_id_for(f"erp:outbox:{row_id}"), key, n))
    return sent


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[str]:
    database = LocalPostgres(tmp_path / "pg", port=port_base() + 81 if port_base() else
                             free_port())
    url = database.up().url
    execute_script(url, SCHEMA_DIR / "schema.sql")
    yield url
    database.down()


def test_relay_waits_for_the_registry_and_loses_nothing(
        healthy: Cluster, tmp_path: Path, outbox: str) -> None:
    sent = rows(outbox, N, 0)
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": healthy.bootstrap,
           "SCHEMA_REGISTRY_URL": healthy.registry_url, "BACKBONE_LOG_FORMAT": "text"}
    log = tmp_path / "relay.log"
    os.kill(healthy.registry_pid(), signal.SIGSTOP)
    stopped_at = time.monotonic()
    try:
        with log.open("ab") as out:
            relay = subprocess.Popen([BACKBONE, "connect", "erp-outbox", "--db", outbox,
                                      "--once"], env=env, stdout=out, stderr=subprocess.STDOUT)
        time.sleep(PAUSE_S)
        assert relay.poll() is None, log.read_text()[-3000:]  # waiting, not dead
        assert published(outbox) == 0
    finally:
        os.kill(healthy.registry_pid(), signal.SIGCONT)
    assert relay.wait(timeout=180) == 0, log.read_text()[-3000:]
    recovery = time.monotonic() - stopped_at - PAUSE_S
    assert "retrying in" in log.read_text()
    wanted = {s.id for s in sent}
    ids = read_committed({"bootstrap.servers": healthy.bootstrap}, [SNAPSHOTS],
                         header("event_id"), expect=N)
    dead = read_committed({"bootstrap.servers": healthy.bootstrap}, ["erp-outbox.dlq.v1"],
                          lambda m: "x", expect=0, idle_s=2, timeout_s=10)
    report = check(f"registry SIGSTOP {PAUSE_S:.0f}s", f"outbox relay (fresh), N={N}", sent,
                   [i for i in ids if i in wanted], recovery_s=recovery)
    report.note = f"dead letters on erp-outbox.dlq.v1: {len(dead)}"
    report.record()
    assert not report.lost and not dead, report.summary()
    assert report.duplicates <= 1000, report.summary()  # one claimed batch at most


def test_beyond_the_bound_the_run_fails_saying_so(healthy: Cluster, outbox: str) -> None:
    rows(outbox, 10, 10_000)
    kafka = KafkaClients(healthy.bootstrap)
    store = KafkaOffsetStore(kafka)
    store.load()
    os.kill(healthy.registry_pid(), signal.SIGSTOP)
    try:
        with SchemaRegistry(healthy.registry_url, timeout_s=1) as registry, \
                EventPublisher(kafka, AvroSerde(registry)) as publisher:
            runner = SourceRunner(ErpOutboxConnector(outbox), publisher, store, kafka=kafka,
                                  retry_wait_s=0.5, dependency_wait_s=3, log=lambda _: None)
            with pytest.raises(TransientError, match=r"still failing after \d+s of retries"):
                runner.run(once=True)
    finally:
        os.kill(healthy.registry_pid(), signal.SIGCONT)
    assert published(outbox) == 0
