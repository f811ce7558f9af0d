"""Proof that the test stack is a real Kafka broker and a real schema registry."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
from confluent_kafka import Consumer, KafkaException, Producer

from tests.conftest import TopicFactory

pytestmark = pytest.mark.integration


def _consume_all(bootstrap: str, topic: str, group: str, expected: int,
                 isolation: str = "read_committed", idle_s: float = 5.0) -> list[bytes]:
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "auto.offset.reset": "earliest",
        "isolation.level": isolation,
        "enable.auto.commit": False,
    })
    consumer.subscribe([topic])
    values: list[bytes] = []
    idle = 0.0
    try:
        while idle < idle_s:
            batch = consumer.consume(num_messages=1000, timeout=0.5)
            if not batch:
                # once everything expected is in, a short quiet period proves nothing more comes
                idle += 0.5 if len(values) < expected else 2.0
                continue
            idle = 0.0
            for message in batch:
                if message.error():
                    raise KafkaException(message.error())
                values.append(message.value())
    finally:
        consumer.close()
    return values


def test_idempotent_producer_delivers_10k_records_exactly_once(
    bootstrap_servers: str, topic_factory: TopicFactory, group_id: str
) -> None:
    topic = topic_factory(partitions=3)
    producer = Producer({
        "bootstrap.servers": bootstrap_servers,
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
    })
    failures: list[str] = []

    def on_delivery(error: object, _message: object) -> None:
        if error is not None:
            failures.append(str(error))

    for n in range(10_000):
        producer.produce(topic, key=str(n % 97).encode(), value=f"record-{n}".encode(),
                         on_delivery=on_delivery)
        producer.poll(0)
    assert producer.flush(30) == 0
    assert failures == []

    values = _consume_all(bootstrap_servers, topic, group_id, expected=10_000)
    assert len(values) == 10_000
    assert set(values) == {f"record-{n}".encode() for n in range(10_000)}


def test_read_committed_sees_committed_transaction_and_not_aborted_one(
    bootstrap_servers: str, topic_factory: TopicFactory, group_id: str
) -> None:
    topic = topic_factory()
    producer = Producer({
        "bootstrap.servers": bootstrap_servers,
        "transactional.id": f"test-tx-{uuid.uuid4().hex[:8]}",
    })
    producer.init_transactions(30)
    producer.begin_transaction()
    for n in range(5):
        producer.produce(topic, value=f"committed-{n}".encode())
    producer.commit_transaction(30)
    producer.begin_transaction()
    for n in range(5):
        producer.produce(topic, value=f"aborted-{n}".encode())
    producer.flush(30)
    producer.abort_transaction(30)

    committed = _consume_all(bootstrap_servers, topic, group_id, expected=5)
    assert sorted(committed) == [f"committed-{n}".encode() for n in range(5)]

    uncommitted = _consume_all(bootstrap_servers, topic, group_id + "-ru", expected=10,
                               isolation="read_uncommitted")
    assert len(uncommitted) == 10, "read_uncommitted must see the aborted records too"


def test_registry_refuses_incompatible_schema_under_full_transitive(registry_url: str) -> None:
    subject = f"test-{uuid.uuid4().hex[:8]}-value"
    headers = {"Content-Type": "application/vnd.schemaregistry.v1+json"}

    def register(fields: list[dict[str, object]]) -> httpx.Response:
        schema = {"type": "record", "name": "Probe", "namespace": "backbone.test",
                  "fields": fields}
        return httpx.post(f"{registry_url}/subjects/{subject}/versions", headers=headers,
                          json={"schema": json.dumps(schema)}, timeout=10)

    response = httpx.put(f"{registry_url}/config/{subject}", headers=headers,
                         json={"compatibility": "FULL_TRANSITIVE"}, timeout=10)
    assert response.status_code == 200, response.text

    first = register([{"name": "sku", "type": "string"}])
    assert first.status_code == 200, first.text
    schema_id = first.json()["id"]

    compatible = register([{"name": "sku", "type": "string"},
                           {"name": "lot", "type": ["null", "string"], "default": None}])
    assert compatible.status_code == 200, compatible.text

    incompatible = register([{"name": "sku", "type": "string"},
                             {"name": "qty", "type": "int"}])
    assert incompatible.status_code == 409, incompatible.text

    fetched = httpx.get(f"{registry_url}/schemas/ids/{schema_id}", timeout=10)
    assert json.loads(fetched.json()["schema"])["fields"][0]["name"] == "sku"
