"""The Iceberg sink SIGKILLed between writing a commit's files and committing them: after a
restart every topic record is in its table exactly once, and the clean-up removes the orphans."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from backbone.samples import sample_inventory_position, sample_order_line_status
from sinks.iceberg.maintenance import referenced_files, remove_orphans
from tests.reliability.iceberg_harness import (
    backbone,
    fresh_prefix,
    fresh_topics,
    publish,
    rows,
    sink_env,
    tables,
)
from tests.reliability.processor_harness import serde_for

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ORDERS = "procurement.order-line-status.v1"
POSITIONS = "inventory.position.v1"
TOPICS = f"{ORDERS},{POSITIONS}"


def _orders(count: int) -> list[str]:
    return [str(uuid.uuid4()) for _ in range(count)]


def _files(root: Path) -> set[str]:
    return {str(path) for path in root.rglob("*") if path.is_file() and path.suffix != ".db"}


def test_kill_between_files_and_commit_loses_nothing_and_duplicates_nothing(
        bootstrap_servers: str, registry_url: str, admin: AdminClient, tmp_path: Path) -> None:
    serde = serde_for(registry_url)
    prefix = fresh_prefix()
    fresh_topics(admin, prefix, [ORDERS, POSITIONS])
    first = _orders(300)
    publish(bootstrap_servers, serde, prefix, ORDERS,
            [sample_order_line_status(i, event_id=event_id) for i, event_id in enumerate(first)])
    publish(bootstrap_servers, serde, prefix, POSITIONS,
            [sample_inventory_position(i) for i in range(120)])
    state = tmp_path / "state"
    marker = tmp_path / "files-written"
    env = sink_env(bootstrap_servers, registry_url, state, prefix)

    # 1. the sink writes its first commit's files, then waits at the hook; we SIGKILL it there
    child = subprocess.Popen(
        [sys.executable, "-m", "backbone", "sink", "iceberg", "--topics", TOPICS, "--once"],
        env={**env, "BACKBONE_ICEBERG_PAUSE_BEFORE_COMMIT": str(marker)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 90
    while not marker.exists() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert marker.exists(), f"the sink never reached the commit (exit {child.poll()})"
    written = _files(state / "iceberg" / "warehouse")
    assert any(name.endswith(".parquet") for name in written), "no data file was written"
    os.kill(child.pid, signal.SIGKILL)
    assert child.wait(timeout=30) == -signal.SIGKILL
    lake = tables(state)
    for table in ("order_line_status", "inventory_position"):
        assert lake.load_table(("backbone", table)).scan().to_arrow().num_rows == 0

    # 2. more records arrive while it is down; the restart reads from the tables' offsets
    second = _orders(100)
    publish(bootstrap_servers, serde, prefix, ORDERS,
            [sample_order_line_status(1000 + i, event_id=event_id)
             for i, event_id in enumerate(second)])
    restart = backbone(env, "sink", "iceberg", "--topics", TOPICS, "--once")
    assert restart.returncode == 0, restart.stderr

    orders = rows(state, "order_line_status")
    assert orders.num_rows == len(first) + len(second)
    assert sorted(orders.column("event_id").to_pylist()) == sorted(first + second)
    coordinates = list(zip(orders.column("kafka_partition").to_pylist(),
                           orders.column("kafka_offset").to_pylist(), strict=True))
    assert len(set(coordinates)) == len(coordinates)
    assert rows(state, "inventory_position").num_rows == 120

    # 3. another restart with nothing new adds nothing
    again = backbone(env, "sink", "iceberg", "--topics", TOPICS, "--once")
    assert again.returncode == 0, again.stderr
    assert rows(state, "order_line_status").num_rows == len(first) + len(second)

    # 4. what the killed run wrote is orphaned; the clean-up removes exactly that
    table = lake.load_table(("backbone", "order_line_status"))
    orphans = {name for name in written if name not in referenced_files(table)
               and "/order_line_status/" in name}
    assert orphans, "the killed commit left no orphan files"
    young = remove_orphans(lake, "backbone", older_than_s=3600)  # the default: 1 h
    assert not any(report.removed for report in young)
    assert all(Path(name).exists() for name in orphans)
    cleaned = backbone(env, "sink", "iceberg", "--clean-orphans", "--older-than", "0")
    assert cleaned.returncode == 0, cleaned.stderr
    assert not any(Path(name).exists() for name in orphans)
    assert rows(state, "order_line_status").num_rows == len(first) + len(second)
    assert rows(state, "inventory_position").num_rows == 120
