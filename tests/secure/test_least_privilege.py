"""Each principal can do its own job on the secured stack, and gets a clear refusal beyond it."""

from __future__ import annotations

import shutil
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import NewTopic

from backbone import acls
from backbone.acl_admin import current, to_kafka
from connectors.wms_feed import cli as wms_cli
from tests.secure.conftest import SecureSession

pytestmark = pytest.mark.integration

SAMPLES = Path(wms_cli.__file__).parent / "samples"


def _produce(secure: SecureSession, principal: str, topic: str) -> KafkaError | None:
    """The delivery error of one record ``principal`` writes to ``topic`` (None: written)."""
    errors: list[KafkaError | None] = []
    producer = Producer(secure.endpoints.kafka(principal).producer(
        **{"message.timeout.ms": 10_000}))
    producer.produce(topic, key=b"k", value=b"least-privilege probe",
                     on_delivery=lambda error, _message: errors.append(error))
    producer.flush(20)
    assert len(errors) == 1
    return errors[0]


def _read_error(secure: SecureSession, principal: str, topic: str, group: str) -> KafkaError:
    """What ``principal`` gets reading ``topic`` from the start in ``group``: an error, or
    _PARTITION_EOF when it may read it."""
    consumer = Consumer(secure.endpoints.kafka(principal).consumer(
        group, **{"enable.partition.eof": True}))
    try:
        consumer.subscribe([topic])  # as a processor does: authorization is checked on join
        for _ in range(60):
            message = consumer.poll(0.5)
            if message is not None and message.error() is not None:
                error: KafkaError = message.error()
                return error
            if message is not None:
                continue
        raise AssertionError(f"{principal} read {topic} without ever reaching its end")
    finally:
        consumer.close()


def _end_offset(secure: SecureSession, topic: str) -> int:
    consumer = Consumer(secure.endpoints.kafka("admin").consumer(f"probe-{uuid.uuid4().hex}"))
    try:
        for _ in range(30):
            try:
                metadata = consumer.list_topics(topic, timeout=10).topics[topic]
                return sum(consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                           for p in metadata.partitions)
            except KafkaException as error:
                # a topic created a moment ago: its leader may not be known to this client yet
                if error.args[0].code() != KafkaError.NOT_LEADER_FOR_PARTITION:
                    raise
                time.sleep(0.5)
        raise AssertionError(f"{topic} has no leader")
    finally:
        consumer.close()


def test_a_connector_publishes_its_topics_and_nothing_else(secure: SecureSession,
                                                           tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    shutil.copytree(SAMPLES, inbox)
    before = _end_offset(secure, "inventory.receipt.v1")
    result = secure.run(["connect", "wms-feed", "--inbox", str(inbox), "--once"],
                        secure.env("wms-feed"))
    assert result.returncode == 1, result.stderr  # partial: the samples hold bad rows
    assert "14 events published, 3 dead letters" in result.stderr
    assert _end_offset(secure, "inventory.receipt.v1") > before

    # pointed at a topic it does not own, it is told so, and nothing lands there
    foreign = f"test.foreign.{uuid.uuid4().hex[:8]}"
    admin = secure.admin()
    admin.create_topics([NewTopic(foreign, 1, 1)])[foreign].result(30)
    receipts = tmp_path / "receipts"
    receipts.mkdir()
    # a file name never seen: source offsets are kept per file
    shutil.copy(SAMPLES / "20260302-1800-dc-atl-01-receipts.jsonl",
                receipts / f"{uuid.uuid4().hex}-receipts.jsonl")
    refused = secure.run(["connect", "wms-feed", "--inbox", str(receipts), "--once",
                          "--route", f"GoodsReceipt={foreign}"], secure.env("wms-feed"))
    assert refused.returncode == 2, refused.stderr
    assert f"for {foreign}: Broker: Topic authorization failed" in refused.stderr
    assert _end_offset(secure, foreign) == 0
    assert list(receipts.glob("*.jsonl"))  # not moved to processed/: it will be retried


def test_an_edi_topic_is_closed_to_the_wms_connector(secure: SecureSession) -> None:
    error = _produce(secure, "wms-feed", "procurement.supplier-ack.v1")
    assert error is not None and error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    assert _produce(secure, "edi-x12", "procurement.supplier-ack.v1") is None


def test_a_processor_reads_its_inputs_only(secure: SecureSession) -> None:
    group = "backbone.order-fulfillment"
    allowed = _read_error(secure, "order-fulfillment", "procurement.purchase-order.v1", group)
    assert allowed.code() == KafkaError._PARTITION_EOF
    refused = _read_error(secure, "order-fulfillment", "logistics.shipment-milestone.raw.v1",
                          group)
    assert refused.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    # and only in its own consumer group
    elsewhere = _read_error(secure, "order-fulfillment", "procurement.purchase-order.v1",
                            "backbone.shipment-status")
    assert elsewhere.code() in (KafkaError.GROUP_AUTHORIZATION_FAILED, KafkaError._PARTITION_EOF)
    error = _produce(secure, "order-fulfillment", "procurement.purchase-order.v1")
    assert error is not None and error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED


def test_the_operator_reads_dead_letters_and_writes_retries_but_no_source_topic(
        secure: SecureSession) -> None:
    dlq = _read_error(secure, "operator", "shipment-status.dlq.v1", "backbone-dlq-read-probe")
    assert dlq.code() == KafkaError._PARTITION_EOF
    assert _produce(secure, "operator", "shipment-status.retry.v1") is None
    error = _produce(secure, "operator", "procurement.purchase-order.v1")
    assert error is not None and error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
    listed = secure.run(["dlq", "list"], secure.env("operator"))
    assert listed.returncode == 0, listed.stderr


def test_acls_apply_is_idempotent_and_admin_only(secure: SecureSession) -> None:
    again = secure.run(["acls", "apply"], secure.env("admin"))
    assert again.returncode == 0, again.stderr
    assert again.stdout == ""  # nothing to change
    assert " 0 created, 0 deleted" in " " + again.stderr
    refused = secure.run(["acls", "apply"], secure.env("operator"))
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1, refused.stderr  # one line, not one per binding
    assert "allowed to ALTER the cluster: the admin" in refused.stderr


def test_acls_apply_prune_removes_only_stale_grants_of_backbone_principals(
        secure: SecureSession) -> None:
    stale = acls.Binding("User:wms-feed", "TOPIC", "LITERAL", "finance.invoice.v1", "WRITE")
    foreign = acls.Binding("User:someone-else", "TOPIC", "LITERAL", "finance.invoice.v1", "READ")
    admin = secure.admin()
    for future in admin.create_acls([to_kafka(stale), to_kafka(foreign)]).values():
        future.result(15)
    assert _produce(secure, "wms-feed", "finance.invoice.v1") is None  # the stale grant works

    result = secure.run(["acls", "apply", "--prune"], secure.env("admin"))
    assert result.returncode == 0, result.stderr
    assert f"deleted   {stale.row()}" in result.stdout
    assert "someone-else" not in result.stdout
    left = current(admin)
    assert stale not in left and foreign in left
    assert set(acls.plan()) <= left
    error = _produce(secure, "wms-feed", "finance.invoice.v1")
    assert error is not None and error.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED
