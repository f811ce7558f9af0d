"""A broker's log directory runs out of space while the publisher writes (a three-node cluster
of its own: node 3's data on a 128 MB tmpfs the test mounts, then fills). Kafka takes the
directory offline and the node out of service; with RF 3 / min ISR 2 the other two keep
acknowledging. After space returns and the node restarts it catches up; nothing acknowledged
is lost or reordered, duplicates (same event_id) stay within the publisher's bound.

Needs root (mount); as root on CI it runs, elsewhere it skips saying why.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from backbone.kafka import apply_topics
from backbone.registry import SchemaRegistry
from backbone.serde import AvroSerde
from backbone.settings import load_settings
from backbone.stack import LocalStack
from backbone.stack.local import KAFKA_MARKER
from backbone.stack.processes import is_running, stop
from backbone.topics import topic
from tests.reliability.checker import check, header, longest_stall, read_committed
from tests.reliability.cluster import BROKERS, Cluster, port_base
from tests.reliability.test_network_faults import consecutive_free_ports
from tests.reliability.workloads import (
    PUBLISHER_DUPLICATE_BOUND,
    PUBLISHER_DUPLICATE_NOTE,
    milestones,
    publish_under_fault,
)
from tests.stack import lib_dir

# faults wait out failovers and timeouts; on a loaded 2-core machine a cell can take minutes
pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

FULL_NODE = 3


@pytest.fixture(scope="module")
def small_disk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, Path]]:
    folder = tmp_path_factory.mktemp("diskfull")
    data = folder / "run" / "cluster" / f"kafka-{FULL_NODE}" / "data"
    data.mkdir(parents=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=128m", "tmpfs", str(data)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        message = f"cannot mount a small filesystem (root needed): {mounted.stderr.strip()}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    base = port_base() + 300 if port_base() else consecutive_free_ports(64)
    stack = LocalStack(load_settings(state_dir=folder, lib_dir=lib_dir(), kafka_brokers=BROKERS,
                                     kafka_port=base, controller_port=base + 1,
                                     registry_port=base + 40,
                                     registry_management_port=base + 41))
    try:
        yield Cluster(stack, stack.up(BROKERS)), data
    finally:
        stack.down()
        subprocess.run(["umount", "-l", str(data)], check=False)


def fill(folder: Path) -> Path:
    """Write a file until the filesystem is full."""
    filler = folder / "filler.bin"
    chunk = b"\0" * (1 << 20)
    with filler.open("wb") as out:
        try:
            while True:
                out.write(chunk)
                out.flush()
        except OSError:
            pass
    return filler


def test_a_full_log_directory_loses_nothing_acknowledged(
        small_disk: tuple[Cluster, Path]) -> None:
    cluster, data = small_disk
    target = topic("logistics.shipment-milestone.raw.v1")  # this cluster is the test's own
    apply_topics(cluster.admin(), [target])
    events, sent = milestones(400, 5, seed=4242)
    node = cluster.node(FULL_NODE)
    filler: list[Path] = []

    def fault() -> None:
        filler.append(fill(data))

    registry = SchemaRegistry(cluster.registry_url)
    try:
        published = publish_under_fault(cluster.bootstrap, AvroSerde(registry), events, fault,
                                        duration_s=15)
    finally:
        registry.close()
    out_of_service = not is_running(node.pid, KAFKA_MARKER)
    # space returns; the node restarts on its data and catches up
    filler[0].unlink()
    if is_running(node.pid, KAFKA_MARKER):
        stop(node.pid, KAFKA_MARKER, 30)
    restarted_at = time.monotonic()
    cluster.restart(node)
    assert cluster.in_sync(target.name, timeout_s=120), "node 3 did not catch up"
    caught_up = time.monotonic() - restarted_at
    wanted = {s.id for s in sent}
    ids = read_committed({"bootstrap.servers": cluster.bootstrap}, [target.name],
                         header("event_id"), expect=len(sent))
    report = check(f"node {FULL_NODE} log dir full", f"publisher, N={len(sent)}", sent,
                   [i for i in ids if i in wanted],
                   recovery_s=longest_stall(published.acked_at, published.fault_at))
    report.note = (f"node {FULL_NODE} {'stopped' if out_of_service else 'kept running'} when "
                   f"its disk filled; back in sync {caught_up:.0f}s after restart; "
                   f"{PUBLISHER_DUPLICATE_NOTE}")
    report.record()
    assert not report.lost, report.summary()
    assert report.duplicates <= PUBLISHER_DUPLICATE_BOUND, report.summary()
    assert report.reordered == 0, report.summary()
