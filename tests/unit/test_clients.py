"""One place for every client's configuration: precedence, refusals, secrets, and a walk of the
code that fails when a Kafka or registry client is configured anywhere else."""

from __future__ import annotations

import ast
import logging
import os
from pathlib import Path

import httpx
import pytest

from backbone import clients
from backbone.clients import (
    ClientConfigError,
    DurabilityError,
    KafkaClients,
    endpoints_for,
    kafka_clients,
    read_client_properties,
    registry_auth,
)
from backbone.dead_letters import redact
from backbone.logs import JsonFormatter
from backbone.settings import Settings

REPO = Path(__file__).resolve().parents[2]
CANARY = "canary-7f3e1c9b"


def _settings(**values: object) -> Settings:
    return Settings(_env_file=None, kafka_bootstrap_servers="b:9092", **values)  # type: ignore[arg-type]


def test_plaintext_by_default_and_producer_defaults_are_durable() -> None:
    kafka = kafka_clients(_settings())
    assert kafka.security == {}
    producer = kafka.producer()
    assert producer["bootstrap.servers"] == "b:9092"
    assert producer["acks"] == "all" and producer["enable.idempotence"] is True
    consumer = kafka.consumer("g")
    assert consumer["isolation.level"] == "read_committed"
    assert consumer["enable.auto.commit"] is False


def test_scram_over_tls_from_typed_settings_with_password_from_a_file(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    secret = tmp_path / "password"
    secret.write_text(f"{CANARY}\n")
    kafka = kafka_clients(_settings(
        kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="edi", kafka_sasl_password_file=secret, kafka_ssl_ca_location=ca))
    config = kafka.consumer("g")
    assert config["security.protocol"] == "SASL_SSL"
    assert config["sasl.mechanism"] == "SCRAM-SHA-512"
    assert config["sasl.username"] == "edi"
    assert config["sasl.password"] == CANARY  # the trailing newline of the secret file is not
    assert config["ssl.ca.location"] == str(ca)
    assert CANARY not in repr(kafka) and CANARY not in str(kafka)


def test_properties_file_under_typed_settings_and_registry_keys_apart(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.delenv("SCHEMA_REGISTRY_URL", raising=False)
    properties = tmp_path / "client.properties"
    properties.write_text(
        "# from the platform team\n"
        "! also a comment\n"
        "bootstrap.servers=file:9093\n"
        "security.protocol = SASL_SSL\n"
        "sasl.mechanism: SCRAM-SHA-256\n"
        'sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required '
        f'username="from-jaas" password="{CANARY}";\n'
        "schema.registry.url=https://registry.example/apis/ccompat/v7\n"
        "basic.auth.user.info=reader:registry-secret\n")
    settings = Settings(_env_file=None, kafka_config=properties,  # type: ignore[call-arg]
                        kafka_sasl_mechanism="SCRAM-SHA-512")
    kafka = kafka_clients(settings)
    assert kafka.bootstrap_servers == "file:9093"
    assert kafka.security["sasl.mechanism"] == "SCRAM-SHA-512"  # typed wins over the file
    assert kafka.security["sasl.username"] == "from-jaas"
    assert kafka.security["sasl.password"] == CANARY
    assert "sasl.jaas.config" not in kafka.security
    assert not any(key.startswith(("schema.registry", "basic.auth")) for key in kafka.security)
    auth = registry_auth(settings)
    assert auth.user == "reader"
    assert clients.registry_url(settings) == "https://registry.example/apis/ccompat/v7"
    assert "registry-secret" not in repr(auth)


def test_properties_file_errors_name_the_file_and_line(tmp_path: Path) -> None:
    properties = tmp_path / "client.properties"
    properties.write_text("security.protocol=SSL\nthis line has no separator\n")
    with pytest.raises(ClientConfigError, match=r"client.properties:2: not a key=value"):
        read_client_properties(properties)
    with pytest.raises(ClientConfigError, match="cannot read"):
        read_client_properties(tmp_path / "absent.properties")


@pytest.mark.parametrize(("line", "fragment"), [
    ("acks=1", "acks=1"),
    ("acks=0", "acks=0"),
    ("enable.idempotence=false", "enable.idempotence=false"),
])
def test_a_file_that_weakens_durability_is_refused(tmp_path: Path, line: str,
                                                   fragment: str) -> None:
    properties = tmp_path / "client.properties"
    properties.write_text(line + "\n")
    with pytest.raises(DurabilityError, match=fragment):
        kafka_clients(_settings(kafka_config=properties))


def test_a_caller_cannot_weaken_durability_either() -> None:
    with pytest.raises(DurabilityError):
        KafkaClients("b:9092").producer(acks="1")


@pytest.mark.parametrize(("values", "fragment"), [
    ({"kafka_security_protocol": "SASL_SSL"}, "needs a SASL mechanism"),
    ({"kafka_security_protocol": "SASL_SSL", "kafka_sasl_mechanism": "SCRAM-SHA-512",
      "kafka_sasl_username": "u"}, "BACKBONE_KAFKA_SASL_PASSWORD"),
    ({"kafka_security_protocol": "SSL", "kafka_ssl_ca_location": Path("/nonexistent/ca.pem")},
     "ssl.ca.location: no file at /nonexistent/ca.pem"),
    ({"kafka_sasl_password_file": Path("/nonexistent/password")},
     "BACKBONE_KAFKA_SASL_PASSWORD_FILE: cannot read"),
])
def test_settings_that_cannot_work_are_refused_naming_the_setting(values: dict[str, object],
                                                                 fragment: str) -> None:
    with pytest.raises(ClientConfigError, match=fragment):
        kafka_clients(_settings(**values))


def test_java_only_keys_are_refused_with_the_librdkafka_equivalent(tmp_path: Path) -> None:
    properties = tmp_path / "client.properties"
    properties.write_text("ssl.truststore.location=/etc/truststore.jks\n")
    with pytest.raises(ClientConfigError, match=r"use ssl\.ca\.location"):
        kafka_clients(_settings(kafka_config=properties))


def test_registry_basic_auth_reaches_the_wire_and_bearer_file_is_reread(tmp_path: Path) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization", ""))
        return httpx.Response(200, json=[])

    basic = registry_auth(_settings(schema_registry_basic_auth_user_info="reader:pw"))
    with httpx.Client(transport=httpx.MockTransport(handler), **basic.httpx_options()) as http:
        http.get("http://registry/subjects")
    assert seen[-1] == httpx.BasicAuth("reader", "pw")._auth_header

    token = tmp_path / "token"
    token.write_text("first-token\n")
    bearer = registry_auth(_settings(registry_bearer_token_file=token))
    with httpx.Client(transport=httpx.MockTransport(handler), **bearer.httpx_options()) as http:
        http.get("http://registry/subjects")
        token.write_text("second-token\n")
        os.utime(token, (1, 1))  # a rotated secret: a different mtime
        http.get("http://registry/subjects")
    assert seen[-2:] == ["Bearer first-token", "Bearer second-token"]


def test_registry_user_info_must_have_a_colon() -> None:
    with pytest.raises(ClientConfigError, match="<user>:<password>"):
        registry_auth(_settings(schema_registry_basic_auth_user_info="no-colon"))


def test_configured_secrets_never_print(tmp_path: Path) -> None:
    where = endpoints_for(
        _settings(kafka_security_protocol="SASL_PLAINTEXT", kafka_sasl_mechanism="PLAIN",
                  kafka_sasl_username="u", kafka_sasl_password=CANARY,
                  schema_registry_basic_auth_user_info=f"u:{CANARY}x"),
        "b:9092", "http://registry")
    assert CANARY not in repr(where)
    # an error message a client library builds with the secret in it
    message = f"connect failed for sasl user u with {CANARY} at b:9092"
    assert CANARY not in redact(message)
    record = logging.LogRecord("backbone", logging.ERROR, __file__, 1, message, (), None)
    assert CANARY not in JsonFormatter().format(record)


# --- the walk ---------------------------------------------------------------------------------

_STAGES = ("backbone", "connectors", "processors", "producers", "sinks", "demo", "bench")
# (confluent-kafka's SchemaRegistryClient appears only in bench/, as the baseline measured)
_CLIENTS = {"Producer", "Consumer", "AdminClient", "SerializingProducer",
            "DeserializingConsumer"}


def _python_files() -> list[Path]:
    return [path for stage in _STAGES for path in sorted((REPO / stage).rglob("*.py"))]


def test_no_module_but_clients_spells_a_kafka_connection() -> None:
    offenders = []
    for path in _python_files():
        if path == REPO / "backbone" / "clients.py":
            continue
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and node.value in (
                    "bootstrap.servers", "security.protocol", "sasl.password"):
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno}: {node.value!r}")
            if isinstance(node, ast.keyword) and node.arg == "broker_address" \
                    and isinstance(node.value, ast.Constant | ast.Attribute | ast.Name):
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno}: broker_address")
    assert offenders == []


def test_every_client_is_built_from_the_clients_module() -> None:
    """A client constructed with a literal dict (not KafkaClients' rendering) bypasses security;
    so does a schema registry client without the endpoints' auth."""
    offenders = []
    for path in _python_files():
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.id if isinstance(node.func, ast.Name) else \
                node.func.attr if isinstance(node.func, ast.Attribute) else ""
            if name in _CLIENTS and node.args and isinstance(node.args[0], ast.Dict) \
                    and not any(key is None for key in node.args[0].keys):
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno}: {name}({{...}})")
            if name == "SchemaRegistry" and path.parts[-2] != "bench" \
                    and not any(k.arg == "auth" for k in node.keywords):
                offenders.append(f"{path.relative_to(REPO)}:{node.lineno}: SchemaRegistry "
                                 "without auth (use Endpoints.registry())")
    assert offenders == []
