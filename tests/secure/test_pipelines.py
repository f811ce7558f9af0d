"""Exactly-once processing and the outbox relay on the secured stack, each as its own principal."""

from __future__ import annotations

import contextlib
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Message, Producer, TopicPartition

from backbone.clients import KafkaClients, RegistryAuth
from backbone.registry import SchemaRegistry
from backbone.samples import sample_shipment_milestone
from backbone.serde import AvroSerde
from backbone.topics import topic as catalog_topic
from processors.api import ProcessorTopics
from processors.shipment_status import processor as shipment_status
from tests.reliability.processor_harness import free_port, scrape, start_processor
from tests.secure.conftest import SecureSession, create_topics

pytestmark = pytest.mark.integration

RAW = "logistics.shipment-milestone.raw.v1"
STATUS = "logistics.shipment-status.v1"


def _read(kafka: KafkaClients, topic: str, expect: int, isolation: str = "read_committed",
          timeout_s: float = 60) -> list[Message]:
    consumer = Consumer(kafka.consumer(f"read-{uuid.uuid4().hex[:8]}",
                                       **{"isolation.level": isolation}))
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    found: list[Message] = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline and len(found) < expect:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                found.append(message)
        time.sleep(1)  # anything beyond `expect` would be a duplicate: look once more
        while (message := consumer.poll(0.5)) is not None:
            if message.error() is None:
                found.append(message)
    finally:
        consumer.close()
    return found


def test_a_processor_runs_exactly_once_as_its_own_principal(
        secure: SecureSession, granted_prefix: tuple[str, str], tmp_path: Path) -> None:
    topic_prefix, group_prefix = granted_prefix
    topics = ProcessorTopics.prefixed(shipment_status.SPEC, topic_prefix)
    admin = secure.admin()
    create_topics(admin, {topics.name(name): name for name in shipment_status.SPEC.all_topics})

    # the carrier-webhooks connector writes the raw milestones (and registers their schema)
    producer_auth = RegistryAuth(
        basic_user_info=(secure.endpoints.registry_user_info_file("carrier-webhooks")
                         .read_text()),
        ca_location=str(secure.endpoints.pki.ca_certificate))
    milestone = sample_shipment_milestone(1)
    with SchemaRegistry(secure.endpoints.registry_url, auth=producer_auth) as registry:
        value = AvroSerde(registry).serialize(topics.topic(RAW), milestone)
    producer = Producer(secure.endpoints.kafka("carrier-webhooks").producer())
    raw = topics.name(RAW)
    producer.produce(raw, key=f"{milestone.carrier}:{milestone.tracking_number}", value=value)
    producer.produce(raw, key="UPSN:POISON", value=b"\x00garbage")
    assert producer.flush(30) == 0

    port = free_port()
    env = secure.env("shipment-status", BACKBONE_PROCESSOR_TOPIC_PREFIX=topic_prefix,
                     BACKBONE_PROCESSOR_CONSUMER_GROUP_PREFIX=group_prefix,
                     BACKBONE_PROCESSOR_STATE_DIR=str(tmp_path / "state"),
                     BACKBONE_PROCESSOR_COMMIT_INTERVAL_S="0.5", BACKBONE_METRICS_PORT=str(port))
    log = tmp_path / "processor.log"
    child = start_processor("shipment-status", env, until_idle_s=5, log=log)
    scraped: list[str] = []
    while child.poll() is None:
        with contextlib.suppress(OSError):  # not serving yet, or already stopped
            scraped.append(scrape(port))
        time.sleep(0.5)
    output = log.read_text()
    secure.outputs.append(output)
    secure.outputs.extend(scraped)
    assert child.returncode == 0, output
    assert scraped, "the processor served no /metrics while it ran"

    kafka = secure.endpoints.kafka("admin")
    statuses = _read(kafka, topics.name(STATUS), expect=1)
    letters = _read(kafka, topics.name("shipment-status.dlq.v1"), expect=1)
    assert len(statuses) == 1 and len(letters) == 1
    assert letters[0].value() == b"\x00garbage"
    # transactional: what read_committed sees is all there is (no aborted duplicates), and
    # the group committed its input offsets in the same transactions
    assert len(_read(kafka, topics.name(STATUS), expect=1, isolation="read_uncommitted")) == 1
    checker = Consumer(kafka.consumer(f"{group_prefix}shipment-status"))
    try:
        committed = checker.committed([TopicPartition(raw, p) for p in
                                       range(catalog_topic(RAW).partitions)], timeout=10)
    finally:
        checker.close()
    assert sum(max(tp.offset, 0) for tp in committed) == 2
    for name, header in letters[0].headers() or []:
        assert not any(secret.encode() in (header or b"") for secret in
                       secure.secrets().values()), name


def test_the_outbox_relay_publishes_as_its_own_principal(
        secure: SecureSession, granted_prefix: tuple[str, str], tmp_path: Path) -> None:
    topic_prefix, _ = granted_prefix
    names = {f"{topic_prefix}.{name}": name for name in (
        "procurement.purchase-order.v1", "inventory.snapshot.v1", "erp-outbox.dlq.v1",
        "backbone.connect-offsets.v1")}
    create_topics(secure.admin(), names)
    url = f"sqlite:///{tmp_path / 'erp.db'}"
    routes = ["--route", f"PurchaseOrderChanged={topic_prefix}.procurement.purchase-order.v1",
              "--route", f"InventorySnapshot={topic_prefix}.inventory.snapshot.v1",
              "--offsets-topic", f"{topic_prefix}.backbone.connect-offsets.v1",
              "--dead-letter-topic", f"{topic_prefix}.erp-outbox.dlq.v1"]
    result = secure.run(["connect", "erp-outbox", "--db", url, *routes, "--once",
                         "--create-schema", "--load-sample"], secure.env("erp-outbox"))
    assert result.returncode == 1, result.stderr  # partial: the sample holds one bad row
    assert "12 events published, 1 dead letters" in result.stderr
    kafka = secure.endpoints.kafka("admin")
    assert len(_read(kafka, f"{topic_prefix}.procurement.purchase-order.v1", expect=7)) == 7
    again = secure.run(["connect", "erp-outbox", "--db", url, *routes, "--once"],
                       secure.env("erp-outbox"))
    assert again.returncode == 0 and "0 events published" in again.stderr
