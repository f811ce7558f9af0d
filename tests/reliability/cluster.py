"""The three-node cluster the fault matrix runs on, and the faults it can suffer.

One KRaft cluster (``backbone stack up --brokers 3``'s own code) in a temporary folder; the
catalog applied to it, so every catalog topic has replication factor 3 and min ISR 2.
Faults act on real processes: SIGKILL, SIGSTOP/SIGCONT, a restart on the same data.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka.admin import AdminClient

from backbone.kafka import apply_topics
from backbone.settings import load_settings
from backbone.stack import Endpoints, LocalStack
from backbone.stack.local import KAFKA_MARKER, KafkaNode
from backbone.stack.processes import is_running, stop
from backbone.topics import CATALOG
from tests.stack import lib_dir

# The grey failure lasts 30 s as the issue asks; BACKBONE_RELIABILITY_PAUSE_S shortens it.
PAUSE_S = float(os.environ.get("BACKBONE_RELIABILITY_PAUSE_S", "30"))

BROKERS = 3


def port_base() -> int:
    """BACKBONE_RELIABILITY_PORT_BASE: node i on base+2(i-1) (client) and +1 (controller),
    the registry on base+90/+91; unset or 0: free ports."""
    return int(os.environ.get("BACKBONE_RELIABILITY_PORT_BASE", "0"))


@dataclass
class Cluster:
    stack: LocalStack
    endpoints: Endpoints

    @property
    def bootstrap(self) -> str:
        return self.endpoints.bootstrap_servers

    @property
    def registry_url(self) -> str:
        return self.endpoints.registry_url

    def admin(self) -> AdminClient:
        return AdminClient({"bootstrap.servers": self.bootstrap})

    def nodes(self) -> tuple[KafkaNode, ...]:
        return self.stack.nodes()

    def node(self, node_id: int) -> KafkaNode:
        return next(n for n in self.nodes() if n.node_id == node_id)

    def leader_of(self, topic: str, partition: int = 0) -> KafkaNode:
        metadata = self.admin().list_topics(topic, timeout=10)
        return self.node(metadata.topics[topic].partitions[partition].leader)

    def kill(self, node: KafkaNode) -> None:
        os.kill(node.pid, signal.SIGKILL)

    def restart(self, node: KafkaNode) -> None:
        """Start the node again on its data; waits until all nodes answer."""
        deadline = time.monotonic() + 30
        while is_running(node.pid, KAFKA_MARKER) and time.monotonic() < deadline:
            time.sleep(0.1)  # a SIGKILLed JVM takes a moment to go
        self.stack.start_node(node.node_id)

    @contextmanager
    def paused(self, node: KafkaNode) -> Iterator[None]:
        """SIGSTOP the node for the block (a grey failure: up for the OS, silent for peers)."""
        os.kill(node.pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.kill(node.pid, signal.SIGCONT)

    def rolling_restart(self, topic: str) -> None:
        """Stop (SIGTERM: a controlled shutdown) and restart each node in turn, each time
        waiting until every replica of ``topic`` is in sync again."""
        for node in self.nodes():
            stop(node.pid, KAFKA_MARKER, 30)
            self.restart(node)
            assert self.in_sync(topic), f"replicas of {topic} behind after node {node.node_id}"

    def registry_pid(self) -> int:
        state = json.loads((self.stack.run_dir / "stack.json").read_text())
        return int(state["registry_pid"])

    def heal(self) -> None:
        """Every node running and answering again (after a test, whatever it left)."""
        os.kill(self.registry_pid(), signal.SIGCONT)
        for node in self.nodes():
            if is_running(node.pid, KAFKA_MARKER):
                os.kill(node.pid, signal.SIGCONT)
            else:
                self.stack.start_node(node.node_id)

    def in_sync(self, topic: str, timeout_s: float = 60.0) -> bool:
        """Wait until every partition of ``topic`` has all its replicas in sync again."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            partitions = self.admin().list_topics(topic, timeout=10).topics[topic].partitions
            if all(len(p.isrs) == len(p.replicas) for p in partitions.values()):
                return True
            time.sleep(0.5)
        return False


@contextmanager
def three_node_cluster(state_dir: Path) -> Iterator[Cluster]:
    base = port_base()
    ports = {"kafka_port": base, "controller_port": base + 1,
             "registry_port": base + 90, "registry_management_port": base + 91} if base else {
        "kafka_port": 0, "controller_port": 0, "registry_port": 0, "registry_management_port": 0}
    settings = load_settings(state_dir=state_dir, lib_dir=lib_dir(), kafka_brokers=BROKERS,
                             **ports)
    stack = LocalStack(settings)
    try:
        endpoints = stack.up(BROKERS)
        cluster = Cluster(stack, endpoints)
        refused = [c for c in apply_topics(cluster.admin(), CATALOG) if c.action == "refused"]
        assert not refused, refused
        yield cluster
    finally:
        stack.down()
