"""The secured stack's broker configuration, registry roles and ACL round trip (no processes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from backbone import acls
from backbone.acl_admin import from_kafka, to_kafka
from backbone.stack import pki
from backbone.stack.secure import (
    SecureEndpoints,
    SecurePorts,
    _registry_roles,
    server_properties,
)


def _properties() -> dict[str, str]:
    text = server_properties(SecurePorts(1, 2, 3, 4, 5, 6, 7), Path("/data"),
                             pki.Pki(Path("/pki")))
    lines = [line for line in text.replace("\\\n", "").splitlines()
             if line and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


def test_the_broker_denies_by_default_and_trusts_only_its_ca() -> None:
    config = _properties()
    assert config["authorizer.class.name"] == \
        "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    assert config["allow.everyone.if.no.acl.found"] == "false"
    assert config["super.users"] == "User:admin;User:broker"
    assert config["listener.security.protocol.map"] == \
        "SASL_SSL:SASL_SSL,SSL:SSL,CONTROLLER:SSL"  # no PLAINTEXT anywhere
    assert config["ssl.client.auth"] == "required"
    assert config["listener.name.sasl_ssl.ssl.client.auth"] == "none"
    assert config["listener.name.sasl_ssl.sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert config["ssl.truststore.location"] == "/pki/ca.pem"
    assert config["ssl.keystore.location"] == "/pki/broker.keystore.pem"


def test_registry_roles_follow_who_writes_avro() -> None:
    roles = _registry_roles()
    assert roles["admin"] == "sr-admin"
    assert roles["edi-x12"] == roles["order-fulfillment"] == "sr-developer"
    assert roles["operator"] == roles["iceberg-sink"] == "sr-readonly"
    assert set(roles) == set(acls.principals())


def test_bindings_survive_the_round_trip_through_the_admin_api_types() -> None:
    for binding in acls.plan():
        assert from_kafka(to_kafka(binding)) == binding


def test_a_principals_clients_take_nothing_from_the_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BACKBONE_KAFKA_SASL_USERNAME", "mallory")
    monkeypatch.setenv("SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO", "mallory:secret-of-mallory")
    endpoints = SecureEndpoints(SecurePorts(9190, 9191, 9192, 9193, 9194, 9195, 9196), tmp_path)
    pki.ensure(tmp_path / "pki", ["operator"])
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "operator.password").write_text("operator-secret-1")
    (tmp_path / "secrets" / "operator.registry").write_text("operator:operator-secret-1")
    kafka = endpoints.kafka("operator")
    assert kafka.bootstrap_servers == "127.0.0.1:9190"
    assert kafka.security["sasl.username"] == "operator"
    assert endpoints.client_endpoints("operator").registry_auth.user == "operator"
    mtls = endpoints.kafka("operator", mtls=True)
    assert mtls.bootstrap_servers == "127.0.0.1:9191" and mtls.protocol == "SSL"
    assert "sasl.username" not in mtls.security
    lines = endpoints.env_lines("operator")
    assert "operator-secret-1" not in lines
    assert 'SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO="$(cat ' in lines
