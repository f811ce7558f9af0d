"""Apicurio behind Keycloak: no or wrong credentials are a clear 401, roles are enforced."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from backbone import schemas
from backbone.clients import RegistryAuth
from backbone.registry import RegistryAuthError, SchemaRegistry
from backbone.serde import AvroSerde
from backbone.stack import keycloak
from backbone.topics import topic
from processors.api import ProcessorTopics
from processors.shipment_status import processor as shipment_status
from tests.secure.conftest import SecureSession, create_topics

pytestmark = pytest.mark.integration

SUBJECT_TOPIC = topic("inventory.receipt.v1")


def _registry(secure: SecureSession, user_info: str | None) -> SchemaRegistry:
    ca = str(secure.endpoints.pki.ca_certificate)
    return SchemaRegistry(secure.endpoints.registry_url,
                          auth=RegistryAuth(basic_user_info=user_info, ca_location=ca))


def test_no_credentials_is_a_401_not_a_decode_failure(secure: SecureSession) -> None:
    with _registry(secure, None) as registry, pytest.raises(RegistryAuthError) as raised:
        AvroSerde(registry).deserialize(SUBJECT_TOPIC, b"\x00\x00\x00\x00\x01\x02")
    assert raised.value.status == 401
    assert "unauthenticated" in str(raised.value)


def test_wrong_credentials_are_a_401(secure: SecureSession) -> None:
    with _registry(secure, "wms-feed:not-its-secret-at-all") as registry, \
            pytest.raises(RegistryAuthError) as raised:
        registry.subjects()
    assert raised.value.status == 401
    assert "not-its-secret-at-all" not in str(raised.value)


def test_the_cli_says_401_in_one_line(secure: SecureSession) -> None:
    env = secure.env("admin", SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO="admin:wrong-secret-123")
    result = secure.run(["schemas", "register"], env)
    assert result.returncode != 0
    assert "401" in result.stdout + result.stderr
    assert "wrong-secret-123" not in result.stdout + result.stderr


def test_roles_a_producer_registers_the_operator_only_reads(secure: SecureSession) -> None:
    text = schemas.schema_text(SUBJECT_TOPIC.record or "")
    secrets = secure.secrets()
    with _registry(secure, f"wms-feed:{secrets['wms-feed']}") as producer:
        schema_id = producer.register(SUBJECT_TOPIC.value_subject, text)
    with _registry(secure, f"operator:{secrets['operator']}") as operator:
        assert SUBJECT_TOPIC.value_subject in operator.subjects()
        with pytest.raises(RegistryAuthError) as raised:
            operator.register(SUBJECT_TOPIC.value_subject + "-probe", text)
    assert raised.value.status == 403
    assert schema_id > 0


def test_the_realm_has_one_client_per_principal_with_its_role(secure: SecureSession) -> None:
    token = keycloak.client_token(secure.endpoints.ports.keycloak, "operator",
                                  secure.secrets()["operator"])
    assert token.count(".") == 2  # a JWT, issued by the realm backbone wrote
    with pytest.raises(Exception, match="refused client operator"):
        keycloak.client_token(secure.endpoints.ports.keycloak, "operator", "wrong-secret")


def test_a_processor_with_wrong_registry_credentials_stops_and_files_nothing(
        secure: SecureSession, granted_prefix: tuple[str, str], tmp_path: Path) -> None:
    topic_prefix, group_prefix = granted_prefix
    topics = ProcessorTopics.prefixed(shipment_status.SPEC, topic_prefix)
    create_topics(secure.admin(), {topics.name(name): name
                                   for name in shipment_status.SPEC.all_topics})
    producer = Producer(secure.endpoints.kafka("carrier-webhooks").producer())
    producer.produce(topics.name("logistics.shipment-milestone.raw.v1"), key=b"UPSN:1",
                     value=b"\x00\x00\x00\x00\x01not-avro")
    assert producer.flush(30) == 0
    env = secure.env("shipment-status", BACKBONE_PROCESSOR_TOPIC_PREFIX=topic_prefix,
                     BACKBONE_PROCESSOR_CONSUMER_GROUP_PREFIX=group_prefix,
                     BACKBONE_PROCESSOR_STATE_DIR=str(tmp_path / "state"),
                     SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO="shipment-status:not-its-secret")
    result = secure.run(["process", "shipment-status", "--until-idle", "5"], env)
    assert result.returncode != 0
    assert "401" in result.stderr and "not-its-secret" not in result.stderr
    dead = topics.name("shipment-status.dlq.v1")
    consumer = Consumer(secure.endpoints.kafka("admin").consumer(f"probe-{uuid.uuid4().hex}"))
    try:
        _low, high = consumer.get_watermark_offsets(TopicPartition(dead, 0), timeout=10)
    finally:
        consumer.close()
    assert high == 0  # the record is not at fault: no dead letter
