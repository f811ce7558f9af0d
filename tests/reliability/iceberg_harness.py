"""Test harness for the Iceberg sink on the real broker: fresh topics, publish, run, read tables."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path

import pyarrow as pa
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic
from pyiceberg.catalog import Catalog

from backbone.clients import KafkaClients
from backbone.events import Event
from backbone.serde import AvroSerde
from backbone.settings import load_settings
from backbone.topics import topic
from producers import EventPublisher
from sinks.iceberg.tables import open_catalog

DLQ = "iceberg-sink.dlq.v1"


def fresh_prefix() -> str:
    return f"t{uuid.uuid4().hex[:8]}"


def fresh_topics(admin: AdminClient, prefix: str, names: Iterable[str],
                 partitions: int = 3) -> None:
    """``<prefix>.<name>`` for each catalog name, and the sink's dead-letter topic."""
    wanted = [f"{prefix}.{name}" for name in [*names, DLQ]]
    futures = admin.create_topics([NewTopic(name, num_partitions=partitions,
                                            replication_factor=1) for name in wanted])
    for future in futures.values():
        future.result(timeout=30)


def publish(bootstrap: str, serde: AvroSerde, prefix: str | None, catalog_name: str,
            events: Iterable[Event]) -> None:
    """Publish ``events`` to ``<prefix>.<catalog_name>`` (the catalog topic without prefix)."""
    entry = topic(catalog_name)
    if prefix:
        entry = replace(entry, name=f"{prefix}.{catalog_name}")
    with EventPublisher(KafkaClients(bootstrap), serde) as publisher:
        futures = [publisher.publish(event, topic=entry) for event in events]
        publisher.flush()
    assert all(future.exception() is None for future in futures)


def produce_raw(bootstrap: str, name: str, key: bytes | None, value: bytes | None) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    producer.produce(name, key=key, value=value)
    assert producer.flush(30) == 0


def sink_env(bootstrap: str, registry_url: str, state_dir: Path, prefix: str | None,
             **extra: str) -> dict[str, str]:
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
           "SCHEMA_REGISTRY_URL": registry_url, "BACKBONE_STATE_DIR": str(state_dir),
           "BACKBONE_LOG_FORMAT": "text", **extra}
    env.pop("BACKBONE_ICEBERG_TOPIC_PREFIX", None)
    if prefix:
        env["BACKBONE_ICEBERG_TOPIC_PREFIX"] = prefix
    return env


def backbone(env: Mapping[str, str], *args: str, timeout_s: float = 120,
             ) -> subprocess.CompletedProcess[str]:
    """``python -m backbone ARGS`` as a user types it."""
    return subprocess.run([sys.executable, "-m", "backbone", *args], env=dict(env),
                          capture_output=True, text=True, timeout=timeout_s, check=False)


def tables(state_dir: Path) -> Catalog:
    return open_catalog(load_settings(state_dir=state_dir))


def rows(state_dir: Path, table: str) -> pa.Table:
    return tables(state_dir).load_table(("backbone", table)).scan().to_arrow()
