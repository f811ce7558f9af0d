"""Network faults between clients and brokers, through Toxiproxy, while the publisher writes:
latency, dropped connections (TCP resets) and a black hole in front of the partition leader.

A three-node cluster of its own (module scope): each node listens on a private port and
advertises a Toxiproxy port in front of it, so every connection (clients, and replication
between brokers, which uses the same listener) crosses the proxy; the KRaft controller
quorum does not. Nothing acknowledged is lost or reordered; duplicates (same event_id) stay
within the publisher's bound (workloads.PUBLISHER_DUPLICATE_BOUND).
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterator

import pytest

from backbone.kafka import apply_topics
from backbone.registry import SchemaRegistry
from backbone.serde import AvroSerde
from backbone.settings import load_settings
from backbone.stack import LocalStack
from backbone.stack.processes import port_is_free
from backbone.topics import CATALOG
from tests.reliability.checker import check, header, longest_stall, read_committed
from tests.reliability.cluster import BROKERS, Cluster, port_base
from tests.reliability.toxiproxy import Toxiproxy, find_server, running
from tests.reliability.workloads import (
    PUBLISHER_DUPLICATE_BOUND,
    PUBLISHER_DUPLICATE_NOTE,
    milestones,
    publish_under_fault,
)
from tests.stack import lib_dir

# faults wait out failovers and timeouts; on a loaded 2-core machine a cell can take minutes
pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

RAW = "logistics.shipment-milestone.raw.v1"
KEYS, PER_KEY = 400, 5  # N = 2,000


class ProxiedCluster(Cluster):
    proxies: Toxiproxy

    def proxy_of(self, node_id: int) -> str:
        return f"kafka-{node_id}"


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProxiedCluster]:
    binary = find_server()
    if binary is None:
        message = ("no toxiproxy server: go install github.com/Shopify/toxiproxy/v2/cmd/"
                   "server@v2.5.0 with GOBIN=.backbone/bin (.ci/run does)")
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    folder = tmp_path_factory.mktemp("proxied")
    base = port_base() + 100 if port_base() else consecutive_free_ports(64)
    advertised = [base + 2 * i for i in range(BROKERS)]  # node i: base + 2(i-1), as up does
    listening = [base + 20 + i for i in range(BROKERS)]
    with running(binary, base + 50, folder / "toxiproxy.log") as proxies:
        for node_id, (port, listen) in enumerate(zip(advertised, listening, strict=True), 1):
            proxies.proxy(f"kafka-{node_id}", port, listen)
        settings = load_settings(state_dir=folder, lib_dir=lib_dir(), kafka_brokers=BROKERS,
                                 kafka_port=base, controller_port=base + 1,
                                 registry_port=base + 40,
                                 registry_management_port=base + 41)
        stack = LocalStack(settings)
        try:
            cluster = ProxiedCluster(stack, stack.up(BROKERS, listen_ports=listening))
            cluster.proxies = proxies
            apply_topics(cluster.admin(), CATALOG)
            yield cluster
        finally:
            stack.down()


def consecutive_free_ports(count: int) -> int:
    """The first of ``count`` consecutive free ports (above the usual ephemeral range)."""
    for _ in range(50):
        first = random.randrange(20_000, 30_000)
        if all(port_is_free(port) for port in range(first, first + count)):
            return first
    raise RuntimeError(f"no {count} consecutive free ports found")


def latency(cluster: ProxiedCluster) -> Callable[[], None]:
    def fault() -> None:
        every = [cluster.proxy_of(n.node_id) for n in cluster.nodes()]
        with cluster.proxies.toxic(every, "latency", latency=500, jitter=100):
            time.sleep(10)

    return fault


def dropped_connections(cluster: ProxiedCluster) -> Callable[[], None]:
    def fault() -> None:
        every = [cluster.proxy_of(n.node_id) for n in cluster.nodes()]
        with cluster.proxies.toxic(every, "reset_peer", timeout=0):
            time.sleep(5)

    return fault


def black_hole(cluster: ProxiedCluster) -> Callable[[], None]:
    leader = cluster.proxy_of(cluster.leader_of(RAW).node_id)

    def fault() -> None:
        # data in, nothing out, connections left hanging: timeout=0 never closes them
        with cluster.proxies.toxic([leader], "timeout", "upstream", timeout=0):
            time.sleep(15)

    return fault


FAULTS = {"latency 500 ms ±100 on every broker, 10 s": latency,
          "connections reset on every broker, 5 s": dropped_connections,
          "black hole in front of the leader, 15 s": black_hole}


@pytest.mark.parametrize("fault_name", list(FAULTS))
def test_publisher_through_a_bad_network(proxied: ProxiedCluster, fault_name: str) -> None:
    events, sent = milestones(KEYS, PER_KEY, seed=hash(fault_name) % 10_000)
    registry = SchemaRegistry(proxied.registry_url)
    try:
        published = publish_under_fault(proxied.bootstrap, AvroSerde(registry), events,
                                        FAULTS[fault_name](proxied), duration_s=20)
    finally:
        registry.close()
    wanted = {s.id for s in sent}
    ids = read_committed({"bootstrap.servers": proxied.bootstrap}, [RAW], header("event_id"),
                         expect=len(sent))
    report = check(fault_name, f"publisher via Toxiproxy, N={len(sent)}", sent,
                   [i for i in ids if i in wanted],
                   recovery_s=longest_stall(published.acked_at, published.fault_at))
    report.note = PUBLISHER_DUPLICATE_NOTE
    report.record()
    assert not report.lost, report.summary()
    assert report.duplicates <= PUBLISHER_DUPLICATE_BOUND, report.summary()
    assert report.reordered == 0, report.summary()


