"""Publish throughput on a three-node cluster (RF 3, min ISR 2, acks=all) against one node.

Both stacks are started in temporary folders in the same run (the cluster with
``backbone stack up --brokers 3``'s code), the catalog's topic applied to each (so RF 3 / min
ISR 2 on the cluster, RF 1 on the node), and the same pre-built ShipmentMilestone events are
published with EventPublisher (idempotent, acks=all), rounds interleaved, medians compared.
BACKBONE_BENCH_PORT_BASE places the stacks on fixed ports (cluster at base, node at base+50).
"""

from __future__ import annotations

import os
import statistics
import tempfile
from contextlib import ExitStack
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

from backbone.kafka import admin_client, apply_topics
from backbone.registry import SchemaRegistry
from backbone.samples import sample_shipment_milestone
from backbone.serde import AvroSerde
from backbone.settings import load_settings
from backbone.stack import Endpoints, LocalStack
from backbone.topics import Topic, topic
from bench.common import result, timed
from producers import EventPublisher

EVENTS = 10_000
ROUNDS = 3
TARGET = 0.5  # replicating every write to two more brokers may cost at most half


def _stack(folder: Path, brokers: int, base: int, stack: ExitStack) -> Endpoints:
    ports = (base, base + 1, base + 40, base + 41) if base else (0, 0, 0, 0)
    settings = load_settings(
        state_dir=folder, kafka_brokers=brokers, kafka_port=ports[0], controller_port=ports[1],
        registry_port=ports[2], registry_management_port=ports[3])
    local = LocalStack(settings)
    stack.callback(local.down)
    return local.up(brokers)


def _fresh_topic(endpoints: Endpoints, round_: int) -> Topic:
    """The milestone topic's catalog entry under a fresh name, applied (RF from the size)."""
    target = replace(topic("logistics.shipment-milestone.raw.v1"),
                     name=f"bench.replication.{round_}.{os.getpid()}")
    apply_topics(admin_client(endpoints.bootstrap_servers), [target])
    return target


def _publish(endpoints: Endpoints, serde: AvroSerde, events: list[Any], target: Topic) -> int:
    with EventPublisher(endpoints.bootstrap_servers, serde) as publisher:
        publisher.publish_batch(events, topic=target)
    return len(events)


def run() -> list[dict[str, Any]]:
    base = int(os.environ.get("BACKBONE_BENCH_PORT_BASE", "0"))
    events = [sample_shipment_milestone(seed) for seed in range(EVENTS)]
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="bench-replication-") as tmp:
        cluster = _stack(Path(tmp) / "cluster", 3, base, stack)
        single = _stack(Path(tmp) / "single", 1, base + 50 if base else 0, stack)
        registry = SchemaRegistry(cluster.registry_url)
        stack.callback(registry.close)
        serde = AvroSerde(registry)
        replicated: list[float] = []
        alone: list[float] = []
        for round_ in range(ROUNDS):
            for endpoints, rates in ((cluster, replicated), (single, alone)):
                target = _fresh_topic(endpoints, round_)
                rates.append(timed(partial(_publish, endpoints, serde, events, target)))
    return [result("publish acks=all, 3 brokers RF 3 vs 1 broker", statistics.median(replicated),
                   statistics.median(alone), TARGET, "events/s", "1 broker RF 1")]
