"""The secrets (a canary planted in every password) never leave their files.

Runs last in tests/secure (file order): it scans what the session's commands printed, the
processor's logs and /metrics, every dead letter on the cluster, every file under the stack's
state folder except the secret files themselves, and every file the tests wrote.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition

from tests.secure.conftest import CANARY, SecureSession

pytestmark = pytest.mark.integration

# Files whose job is to hold a secret: the secrets folder, and the realm Keycloak imports.
SECRET_FILES = ("secrets", "realm.json")


def _secrets(secure: SecureSession) -> list[bytes]:
    values = [value.encode() for value in secure.secrets().values()]
    assert values and all(len(value) >= 12 for value in values)
    return values


def _leaks(data: bytes, secrets: list[bytes]) -> bool:
    return any(secret in data for secret in secrets)


def test_the_canary_is_planted_when_the_session_owns_the_stack(secure: SecureSession) -> None:
    secrets = secure.secrets()
    if not secrets["admin"].startswith("cnry"):
        pytest.skip("a reused stack (BACKBONE_TEST_SECURE_STATE_DIR): its own secrets are "
                    "checked instead of the canary")
    assert secrets["admin"] == f"{CANARY}-admin"


def test_no_secret_in_what_the_commands_printed(secure: SecureSession) -> None:
    # one more secured command per kind of principal, so the check never runs on nothing
    secure.run(["dlq", "list"], secure.env("operator"))
    secure.run(["acls", "apply"], secure.env("admin"))
    secure.run(["topics", "apply"], secure.env("wms-feed", mtls=True))
    secrets = _secrets(secure)
    assert len(secure.outputs) >= 3
    for output in secure.outputs:
        assert not _leaks(output.encode(), secrets), output[:2000]


def test_no_secret_in_any_file_of_the_state_folder(secure: SecureSession) -> None:
    secrets = _secrets(secure)
    state = secure.endpoints.run_dir.parent
    scanned = 0
    for path in state.rglob("*"):
        relative = path.relative_to(secure.endpoints.run_dir) if path.is_relative_to(
            secure.endpoints.run_dir) else path
        if not path.is_file() or relative.parts[:1] in [(name,) for name in SECRET_FILES]:
            continue
        scanned += 1
        assert not _leaks(path.read_bytes(), secrets), path
    assert scanned > 10  # logs, properties, certificates, broker data, registry database


def test_no_secret_in_the_files_the_tests_wrote(secure: SecureSession,
                                                tmp_path_factory: pytest.TempPathFactory) -> None:
    secrets = _secrets(secure)
    for path in Path(tmp_path_factory.getbasetemp()).rglob("*"):
        if path.is_file():
            assert not _leaks(path.read_bytes(), secrets), path


def test_no_secret_in_any_dead_letter(secure: SecureSession) -> None:
    secrets = _secrets(secure)
    kafka = secure.endpoints.kafka("admin")
    consumer = Consumer(kafka.consumer(f"canary-{uuid.uuid4().hex[:8]}",
                                       **{"enable.partition.eof": True}))
    try:
        topics = consumer.list_topics(timeout=10).topics
        dead = [TopicPartition(name, p, 0) for name, meta in topics.items()
                if name.endswith(".dlq.v1") for p in meta.partitions]
        assert dead
        consumer.assign(dead)
        remaining = len(dead)
        while remaining:
            message = consumer.poll(5)
            assert message is not None, "dead-letter topics not read to their end"
            if message.error() is not None:
                remaining -= 1
                continue
            blob = b"".join([message.value() or b"", *(value or b"" for _, value in
                                                        message.headers() or [])])
            assert not _leaks(blob, secrets), (message.topic(), message.offset())
    finally:
        consumer.close()
