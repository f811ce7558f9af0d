"""Test harness for processors on the real broker: fresh topics, produce, read_committed, run."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from backbone.events import Event
from backbone.registry import SchemaRegistry
from backbone.serde import AvroSerde
from processors.api import ProcessorSpec, ProcessorTopics
from processors.engine import EngineOptions, build_application, run
from processors.retry import RetryPolicy
from processors.step import ProcessorLogic

E = TypeVar("E", bound=Event)


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: str | None
    value: bytes | None
    headers: dict[str, bytes]


def fresh_prefix() -> str:
    return f"t{uuid.uuid4().hex[:6]}"


@dataclass
class Created:
    """Topics and consumer groups the harness made this session; tests/conftest.py deletes
    them (and the Quix internal topics named after the groups) when the session ends."""

    bootstrap: str | None = None
    topics: set[str] = field(default_factory=set)
    groups: set[str] = field(default_factory=set)


CREATED = Created()


def fresh_topics(admin: AdminClient, spec: ProcessorSpec, partitions: int = 1,
                 prefix: str | None = None) -> ProcessorTopics:
    """Every topic of ``spec`` under a fresh prefix (or ``prefix``), created on the broker."""
    topics = ProcessorTopics.prefixed(spec, prefix or fresh_prefix())
    names = [topics.name(name) for name in spec.all_topics]
    futures = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)
                                   for name in names])
    for future in futures.values():
        future.result(timeout=30)
    CREATED.topics.update(names)
    return topics


def serde_for(registry_url: str) -> AvroSerde:
    return AvroSerde(SchemaRegistry(registry_url))


def produce_events(bootstrap: str, serde: AvroSerde, topics: ProcessorTopics, catalog_name: str,
                   events: Iterable[Event]) -> None:
    entry = topics.topic(catalog_name)
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for event in events:
        producer.produce(entry.name, key=entry.key_for(event),
                         value=serde.serialize(entry, event),
                         headers=[("correlation_id", event.event_id.encode())])
    assert producer.flush(30) == 0


def produce_raw(bootstrap: str, topic: str, key: str | None, value: bytes | None,
                headers: list[tuple[str, bytes]] | None = None) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    producer.produce(topic, key=key, value=value, headers=headers or [])
    assert producer.flush(30) == 0


def read_committed(bootstrap: str, topic: str, idle_s: float = 3.0,
                   expect: int | None = None, timeout_s: float = 60.0) -> list[Record]:
    """Everything committed on ``topic`` (all partitions), in per-partition order."""
    consumer = Consumer({
        "bootstrap.servers": bootstrap, "group.id": f"read-{uuid.uuid4().hex[:8]}",
        "auto.offset.reset": "earliest", "enable.auto.commit": False,
        "isolation.level": "read_committed",
    })
    consumer.subscribe([topic])
    records: list[Record] = []
    deadline = time.monotonic() + timeout_s
    last = time.monotonic()
    try:
        while time.monotonic() < deadline:
            message = consumer.poll(0.2)
            if message is None or message.error():
                if time.monotonic() - last > idle_s and (expect is None or len(records) >= expect):
                    break
                continue
            last = time.monotonic()
            key = message.key()
            records.append(Record(
                message.topic(), message.partition(), message.offset(),
                None if key is None else key.decode(), message.value(),
                {name: value or b"" for name, value in message.headers() or []},
            ))
    finally:
        consumer.close()
    return records


def decoded(serde: AvroSerde, topics: ProcessorTopics, catalog_name: str,
            records: Iterable[Record]) -> list[Event]:
    entry = topics.topic(catalog_name)
    return [serde.deserialize(entry, record.value) for record in records]


def decoded_as(model: type[E], serde: AvroSerde, topics: ProcessorTopics, catalog_name: str,
               records: Iterable[Record]) -> list[E]:
    """Like :func:`decoded`, checking every record is a ``model``."""
    events = decoded(serde, topics, catalog_name, records)
    assert all(isinstance(event, model) for event in events), events
    return events  # type: ignore[return-value]  # checked just above


def options(bootstrap: str, topics: ProcessorTopics, state_dir: Path,
            group: str | None = None, **overrides: object) -> EngineOptions:
    group = group or f"g{uuid.uuid4().hex[:8]}"
    CREATED.bootstrap = bootstrap
    CREATED.groups.add(group)
    return EngineOptions(
        kafka=bootstrap,
        consumer_group=group,
        state_dir=state_dir, commit_interval_s=0.5, topics=topics,
        retry_policy=RetryPolicy(max_attempts=3, initial_delay_ms=200, max_delay_ms=1_000,
                                 jitter=0.0),
        **overrides,  # type: ignore[arg-type]
    )


def run_until_idle(logic: ProcessorLogic, serde: AvroSerde, engine_options: EngineOptions,
                   idle_s: float = 3.0) -> None:
    app, _ = build_application(logic, serde, engine_options)
    run(app, until_idle_s=idle_s)


# -- a processor as its own process, as an operator starts it --------------------------------

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def processor_env(bootstrap: str, registry_url: str, prefix: str, state_dir: Path,
                  group_prefix: str, **extra: str) -> dict[str, str]:
    """Environment of ``backbone process`` on ``<prefix>.*`` topics with its own group/state."""
    return {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "SCHEMA_REGISTRY_URL": registry_url,
        "BACKBONE_PROCESSOR_TOPIC_PREFIX": prefix,
        "BACKBONE_PROCESSOR_CONSUMER_GROUP_PREFIX": group_prefix,
        "BACKBONE_PROCESSOR_STATE_DIR": str(state_dir),
        "BACKBONE_PROCESSOR_COMMIT_INTERVAL_S": "0.5",
        "BACKBONE_LOG_FORMAT": "text",
        **extra,
    }


def start_processor(name: str, env: Mapping[str, str], until_idle_s: float | None = None,
                    log: Path | None = None) -> subprocess.Popen[bytes]:
    """``python -m backbone process NAME [--until-idle S]`` as a child process."""
    args = [sys.executable, "-m", "backbone", "process", name]
    if until_idle_s is not None:
        args += ["--until-idle", str(until_idle_s)]
    if log is None:
        return subprocess.Popen(args, env=dict(env), stdout=subprocess.DEVNULL,
                                stderr=subprocess.STDOUT)
    with log.open("ab") as out:  # the child keeps its own descriptor
        return subprocess.Popen(args, env=dict(env), stdout=out, stderr=subprocess.STDOUT)


def scrape(port: int, timeout_s: float = 2.0) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=timeout_s) as page:
        text: str = page.read().decode()
        return text


def count_committed(bootstrap: str, topic: str, at_least: int, timeout_s: float) -> int:
    """Waits until ``topic`` holds ``at_least`` committed records; how many were seen."""
    consumer = Consumer({
        "bootstrap.servers": bootstrap, "group.id": f"count-{uuid.uuid4().hex[:8]}",
        "auto.offset.reset": "earliest", "enable.auto.commit": False,
        "isolation.level": "read_committed",
    })
    consumer.subscribe([topic])
    seen = 0
    deadline = time.monotonic() + timeout_s
    try:
        while seen < at_least and time.monotonic() < deadline:
            seen += len([m for m in consumer.consume(500, 0.2) if not m.error()])
    finally:
        consumer.close()
    return seen
