"""A processor's dead letters, and reading any dialect back (pure)."""

from __future__ import annotations

import struct

import pytest

from backbone import dead_letters as dl
from backbone.dead_letters import redact
from backbone.errors import Category, TransientError, UnknownCodeError
from processors.dead_letters import RETRY_ATTEMPT_HEADER, dead_letter_record
from processors.dlq.dialects import read_dead_letter
from tests.unit.dlq.conftest import FakeMessage


def _failure(error: BaseException, **overrides: object) -> tuple[bytes | None, bytes | None,
                                                                  list[tuple[str, bytes]]]:
    try:
        raise error
    except BaseException as raised:
        arguments: dict[str, object] = dict(
            key=b"UPS:1Z999", value=b"\x00\x00\x00\x00\x07raw-avro", original_topic="raw.v1",
            partition=2, offset=41, timestamp_ms=1_700_000_000_000, processor="shipment-status",
            stage="map", error=raised, attempt=1, first_failure_ms=None, business_key="UPS:1Z999",
            correlation_id="corr-1", headers=[("traceparent", b"00-abc-def-01")],
            last_failure_ms=1_700_000_100_000,
        )
        arguments.update(overrides)
        return dead_letter_record(**arguments)  # type: ignore[arg-type]


def test_record_keeps_bytes_and_own_headers_and_adds_context() -> None:
    key, value, headers = _failure(UnknownCodeError("UPS code 'ZZ' has no mapping"))
    assert (key, value) == (b"UPS:1Z999", b"\x00\x00\x00\x00\x07raw-avro")
    names = dict(headers)
    assert headers[0] == ("traceparent", b"00-abc-def-01")
    assert names[dl.ORIGINAL_TOPIC] == b"raw.v1"
    assert names[dl.ORIGINAL_PARTITION] == b"2"
    assert names[dl.ORIGINAL_OFFSET] == b"41"
    assert names[dl.ORIGINAL_TIMESTAMP] == b"2023-11-14T22:13:20.000Z"
    assert (names[dl.STAGE], names[dl.OWNER], names[dl.STEP]) == (
        b"processor", b"shipment-status", b"map")
    assert names[dl.CATEGORY] == b"UNKNOWN_CODE"
    assert names[dl.EXCEPTION_CLASS] == b"backbone.errors.UnknownCodeError"
    assert names[dl.FIRST_FAILURE] == names[dl.LAST_FAILURE] == b"2023-11-14T22:15:00.000Z"
    assert names[dl.TRACEPARENT] == b"00-abc-def-01"
    assert names[dl.BUSINESS_KEY] == b"UPS:1Z999"
    assert dl.REPLAY_ID not in names
    assert b"UnknownCodeError" in names[dl.EXCEPTION_STACKTRACE]


def test_round_trip_through_reader() -> None:
    key, value, headers = _failure(TransientError("registry timed out"), attempt=5,
                                   replay_id="r-1")
    letter = read_dead_letter(FakeMessage(_key=key, _value=value, _headers=headers, _offset=9))
    assert letter.dialect == "backbone"
    assert letter.problems == []
    record = letter.record
    assert (record.original_topic, record.original_partition, record.original_offset) == (
        "raw.v1", 2, 41)
    assert record.location == "raw.v1:2:41"
    assert record.category == Category.TRANSIENT
    assert record.attempt == 5
    assert record.replay_id == "r-1"
    assert record.correlation_id == "corr-1"
    assert record.last_failure_ms == 1_700_000_100_000
    assert letter.coordinates == "x.dlq.v1:0:9"


def test_failure_of_a_replayed_record_keeps_first_coordinates_and_replay_lineage() -> None:
    inherited = [("traceparent", b"tp"), (dl.ORIGINAL_TOPIC, b"raw.v1"),
                 (dl.ORIGINAL_PARTITION, b"2"), (dl.ORIGINAL_OFFSET, b"41"),
                 (dl.FIRST_FAILURE, b"1000"), (dl.REPLAY_ID, b"r-7"), (dl.REPLAY_COUNT, b"2"),
                 (RETRY_ATTEMPT_HEADER, b"0")]
    _, _, headers = _failure(UnknownCodeError("still unmapped"), original_topic="p.retry.v1",
                             partition=0, offset=3, first_failure_ms=5000, headers=inherited)
    names = [name for name, _ in headers]
    assert len(names) == len(set(names)), "no duplicated bookkeeping headers"
    values = dict(headers)
    assert values[dl.ORIGINAL_TOPIC] == b"raw.v1"
    assert values[dl.ORIGINAL_OFFSET] == b"41"
    assert values[dl.FIRST_FAILURE] == b"1970-01-01T00:00:01.000Z"  # epoch ms read too
    assert values[dl.REPLAY_ID] == b"r-7"
    assert values[dl.REPLAY_COUNT] == b"2"
    assert RETRY_ATTEMPT_HEADER not in values


@pytest.mark.parametrize(
    ("secret_text", "secret"),
    [
        ("connect to postgresql://erp:Hunter2!@db:5432/erp failed", "Hunter2!"),
        ("signature check with whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw failed", "MfKQ9r8GK"),
        ("login password=s3cr3t rejected", "s3cr3t"),
        ('{"api_key": "AKIA1234567890"}', "AKIA1234567890"),
        ("Authorization: Bearer abc.def.ghi", "abc.def.ghi"),
        ("token: tok_98765 expired", "tok_98765"),
    ],
)
def test_secrets_are_redacted(secret_text: str, secret: str) -> None:
    assert secret not in redact(secret_text)
    _, _, headers = _failure(ValueError(secret_text))
    values = dict(headers)
    assert secret.encode() not in values[dl.EXCEPTION_MESSAGE]
    assert secret.encode() not in values[dl.EXCEPTION_STACKTRACE]


def test_redaction_keeps_what_helps_diagnosis() -> None:
    assert redact("postgresql://erp:pw@db:5432/erp") == "postgresql://erp:***@db:5432/erp"
    assert redact("UPS code 'ZZ' has no mapping") == "UPS code 'ZZ' has no mapping"


def test_long_messages_and_stacks_are_trimmed() -> None:
    _, _, headers = _failure(ValueError("x" * 50_000))
    values = dict(headers)
    assert len(values[dl.EXCEPTION_MESSAGE]) <= dl.MAX_MESSAGE_CHARS
    assert len(values[dl.EXCEPTION_STACKTRACE]) <= dl.MAX_STACKTRACE_CHARS


def test_kafka_connect_headers() -> None:
    p = "__connect.errors."
    headers = [(p + "topic", b"erp.orders"), (p + "partition", b"3"), (p + "offset", b"1200"),
               (p + "connector.name", b"jdbc-sink"), (p + "task.id", b"0"),
               (p + "stage", b"VALUE_CONVERTER"),
               (p + "exception.class.name", b"org.apache.kafka.connect.errors.DataException"),
               (p + "exception.message", b"Unknown magic byte!"),
               (p + "exception.stacktrace", b"org.apache...DataException\n\tat ...")]
    letter = read_dead_letter(FakeMessage(_headers=headers))
    assert letter.dialect == "connect"
    record = letter.record
    assert (record.original_topic, record.original_partition, record.original_offset) == (
        "erp.orders", 3, 1200)
    assert (record.stage, record.owner, record.step) == (
        "kafka-connect", "jdbc-sink", "VALUE_CONVERTER")
    assert record.category == Category.DESERIALIZATION
    assert record.message == "Unknown magic byte!"
    assert letter.problems == []


def test_spring_kafka_binary_headers() -> None:
    headers = [("kafka_dlt-original-topic", b"orders"),
               ("kafka_dlt-original-partition", struct.pack(">i", 7)),
               ("kafka_dlt-original-offset", struct.pack(">q", 2**40 + 5)),
               ("kafka_dlt-original-timestamp", struct.pack(">q", 1_700_000_000_123)),
               ("kafka_dlt-original-consumer-group", b"order-service"),
               ("kafka_dlt-exception-fqcn",
                b"org.springframework.kafka.listener.ListenerExecutionFailedException"),
               ("kafka_dlt-exception-cause-fqcn", b"java.lang.IllegalStateException"),
               ("kafka_dlt-exception-message", b"Listener failed; bad state")]
    letter = read_dead_letter(FakeMessage(_headers=headers))
    assert letter.dialect == "spring"
    record = letter.record
    assert record.original_partition == 7
    assert record.original_offset == 2**40 + 5
    assert record.original_timestamp_ms == 1_700_000_000_123
    assert record.owner == "order-service"
    assert record.exception_class == "java.lang.IllegalStateException"
    assert letter.problems == []


def test_spring_cloud_stream_headers() -> None:
    headers = [("x-original-topic", b"orders"), ("x-original-partition", struct.pack(">i", 1)),
               ("x-original-offset", struct.pack(">q", 99)),
               ("x-exception-fqcn", b"java.lang.RuntimeException")]
    letter = read_dead_letter(FakeMessage(_headers=headers))
    assert letter.dialect == "spring-cloud-stream"
    assert (letter.record.original_partition, letter.record.original_offset) == (1, 99)


def test_mangled_headers_are_read_as_far_as_possible() -> None:
    headers = [(dl.ORIGINAL_TOPIC, b"raw.v1"), (dl.ORIGINAL_OFFSET, b"forty-one"),
               (dl.CATEGORY, b"\xff\xfe"), (dl.ATTEMPT, None),
               (dl.EXCEPTION_MESSAGE, b"ok message"), ("kafka_dlt-original-partition", b"\x01")]
    letter = read_dead_letter(FakeMessage(_headers=headers))
    assert letter.record.original_topic == "raw.v1"
    assert letter.record.original_offset is None
    assert letter.record.attempt == 1
    assert letter.record.message == "ok message"
    assert any(dl.ORIGINAL_OFFSET in problem for problem in letter.problems)
    assert any(dl.CATEGORY in problem for problem in letter.problems)


def test_spring_partition_of_wrong_length_is_a_problem_not_a_crash() -> None:
    letter = read_dead_letter(FakeMessage(_headers=[("kafka_dlt-original-partition", b"\x01")]))
    assert letter.record.original_partition is None
    assert letter.problems


def test_message_that_fails_to_answer_is_still_returned() -> None:
    class Broken(FakeMessage):
        def headers(self) -> object:
            raise RuntimeError("boom")

        def key(self) -> bytes | None:
            raise RuntimeError("no key")

    letter = read_dead_letter(Broken(_headers=None))
    assert letter.key is None
    assert letter.value == b"v"
    assert any("headers" in problem for problem in letter.problems)


@pytest.mark.parametrize("headers", [None, [], [("only", b"x")], [("a",)], "garbage", 42])
def test_headers_of_any_shape_never_crash(headers: object) -> None:
    letter = read_dead_letter(FakeMessage(_headers=headers))
    assert letter.dialect == "none"
    assert letter.problems
