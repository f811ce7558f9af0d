"""Test harness for processors on the real broker: fresh topics, produce, read_committed, run."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

from backbone.events import Event
from backbone.registry import SchemaRegistry
from backbone.serde import AvroSerde
from processors.api import ProcessorSpec, ProcessorTopics
from processors.engine import EngineOptions, ProcessorLogic, build_application, run
from processors.retry import RetryPolicy


@dataclass(frozen=True)
class Record:
    topic: str
    partition: int
    offset: int
    key: str | None
    value: bytes | None
    headers: dict[str, bytes]


def fresh_topics(admin: AdminClient, spec: ProcessorSpec, partitions: int = 1) -> ProcessorTopics:
    """Every topic of ``spec`` under a fresh prefix, created on the broker."""
    # short: Quix names repartition/changelog topics after every input topic (max 249 chars)
    topics = ProcessorTopics.prefixed(spec, f"t{uuid.uuid4().hex[:6]}")
    names = [topics.name(name) for name in spec.all_topics]
    futures = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)
                                   for name in names])
    for future in futures.values():
        future.result(timeout=30)
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


def options(bootstrap: str, topics: ProcessorTopics, state_dir: Path,
            group: str | None = None, **overrides: object) -> EngineOptions:
    return EngineOptions(
        bootstrap_servers=bootstrap,
        consumer_group=group or f"g{uuid.uuid4().hex[:8]}",
        state_dir=state_dir, commit_interval_s=0.5, topics=topics,
        retry_policy=RetryPolicy(max_attempts=3, initial_delay_ms=200, max_delay_ms=1_000,
                                 jitter=0.0),
        **overrides,  # type: ignore[arg-type]
    )


def run_until_idle(logic: ProcessorLogic, serde: AvroSerde, engine_options: EngineOptions,
                   idle_s: float = 3.0) -> None:
    app, _ = build_application(logic, serde, engine_options)
    run(app, until_idle_s=idle_s)
