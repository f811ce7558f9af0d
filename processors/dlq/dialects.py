"""Reading any dead-letter message back: backbone's record, and other frameworks' dialects.

:func:`read_dead_letter` turns a confluent-kafka ``Message`` (or anything shaped like one) into
a :class:`DeadLetterMessage` without ever raising: backbone's own ``backbone.dlq.*`` headers
(backbone/dead_letters.py), Kafka Connect's ``__connect.errors.*`` (strings), Spring Kafka's
``kafka_dlt-*`` and Spring Cloud Stream's ``x-original-*``/``x-exception-*`` (big-endian binary
ints/longs), Kafka Streams' ``__streams.errors.*`` (KIP-1034) and Karafka's ``source_*``.
Whatever dialect, the headers become one :class:`backbone.dead_letters.DeadLetter`; what could
not be read is listed in ``DeadLetterMessage.problems``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from confluent_kafka import Message

from backbone.dead_letters import PREFIX, DeadLetter
from backbone.errors import Category
from backbone.headers import CORRELATION_ID, TRACEPARENT


@dataclass
class DeadLetterMessage:
    """One message of a dead-letter topic: where it sits, its bytes, and its dead-letter record."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]]
    record: DeadLetter
    dialect: str = "none"  # backbone | connect | spring | spring-cloud-stream | streams | karafka
    problems: list[str] = field(default_factory=list)

    @property
    def coordinates(self) -> str:
        return f"{self.topic}:{self.partition}:{self.offset}"

    @property
    def failed_at_ms(self) -> int | None:
        """When it last failed: the record says, else the dead letter's own timestamp."""
        failed = self.record.failed_at_ms
        return failed if failed is not None else self.timestamp_ms


def _call(message: Any, name: str, problems: list[str]) -> Any:
    try:
        attribute = getattr(message, name)
        return attribute() if callable(attribute) else attribute
    except Exception as error:  # a reader of foreign records never raises
        problems.append(f"cannot read {name}: {error}")
        return None


def _headers_of(message: Any, problems: list[str]) -> list[tuple[str, bytes | None]]:
    raw = _call(message, "headers", problems)
    result: list[tuple[str, bytes | None]] = []
    if raw is None:
        return result
    if isinstance(raw, dict):
        raw = list(raw.items())
    try:
        for item in raw:
            name, value = item
            if isinstance(value, str):
                value = value.encode("utf-8")
            if not isinstance(name, str) or not (value is None or isinstance(value, bytes)):
                problems.append(f"header {name!r} has an unreadable shape")
                continue
            result.append((name, value))
    except (TypeError, ValueError) as error:
        problems.append(f"headers are not (name, value) pairs: {error}")
    return result


class _HeaderReader:
    """Typed access to one record's foreign headers that notes every value it cannot read."""

    def __init__(self, headers: Sequence[tuple[str, bytes | None]], problems: list[str]) -> None:
        self._values: dict[str, bytes | None] = dict(headers)
        self.problems = problems

    def has_prefix(self, prefix: str) -> bool:
        return any(name.startswith(prefix) for name in self._values)

    def text(self, name: str) -> str | None:
        value = self._values.get(name)
        if value is None:
            return None
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            self.problems.append(f"header {name} is not UTF-8 text ({value[:16].hex()}...)")
            return value.decode("utf-8", errors="backslashreplace")

    def integer(self, name: str) -> int | None:
        text = self.text(name)
        if text is None:
            return None
        try:
            return int(text.strip())
        except ValueError:
            self.problems.append(f"header {name} is not a number: {text[:40]!r}")
            return None

    def binary_integer(self, name: str) -> int | None:
        """Spring's big-endian int (4 bytes) or long (8 bytes); decimal text also accepted."""
        value = self._values.get(name)
        if value is None:
            return None
        if len(value) in (4, 8):
            return int.from_bytes(value, "big", signed=True)
        try:
            return int(value.decode("ascii").strip())
        except (UnicodeDecodeError, ValueError):
            self.problems.append(
                f"header {name} is neither a 4/8-byte big-endian number nor text "
                f"({len(value)} bytes: {value[:16].hex()})"
            )
            return None


def _foreign_category(stage: str | None, exception_class: str | None) -> str:
    """A category for dead letters other frameworks wrote (they record classes, not causes)."""
    text = f"{stage or ''} {exception_class or ''}".lower()
    if "convert" in text or "serializ" in text or "deserializ" in text:
        return Category.DESERIALIZATION.value
    if "timeout" in text or "retriable" in text or "retryable" in text:
        return Category.TRANSIENT.value
    return Category.UNEXPECTED.value


def _connect(h: _HeaderReader) -> DeadLetter:
    p = "__connect.errors."
    step, cls = h.text(p + "stage"), h.text(p + "exception.class.name")
    return DeadLetter(
        stage="kafka-connect", owner=h.text(p + "connector.name") or "?",
        category=_foreign_category(step, cls), message=h.text(p + "exception.message") or "",
        exception_class=cls, stacktrace=h.text(p + "exception.stacktrace"), step=step,
        original_topic=h.text(p + "topic"), original_partition=h.integer(p + "partition"),
        original_offset=h.integer(p + "offset"),
    )


def _spring(h: _HeaderReader, dialect: str) -> DeadLetter:
    original, exception = (
        ("kafka_dlt-original-", "kafka_dlt-exception-")
        if dialect == "spring"
        else ("x-original-", "x-exception-")
    )
    cls = h.text(exception + "cause-fqcn") or h.text(exception + "fqcn")
    return DeadLetter(
        stage=dialect, owner=h.text(original + "consumer-group") or "?",
        category=_foreign_category(None, cls), message=h.text(exception + "message") or "",
        exception_class=cls, stacktrace=h.text(exception + "stacktrace"),
        attempt=h.binary_integer("retry_topic-attempts") or 1,
        original_topic=h.text(original + "topic"),
        original_partition=h.binary_integer(original + "partition"),
        original_offset=h.binary_integer(original + "offset"),
        original_timestamp_ms=h.binary_integer(original + "timestamp"),
    )


def _streams(h: _HeaderReader) -> DeadLetter:
    p = "__streams.errors."
    cls = h.text(p + "exception")
    return DeadLetter(
        stage="kafka-streams", owner="?", category=_foreign_category(None, cls),
        message=h.text(p + "message") or "", exception_class=cls,
        stacktrace=h.text(p + "stacktrace"), original_topic=h.text(p + "topic"),
        original_partition=h.integer(p + "partition"), original_offset=h.integer(p + "offset"),
    )


def _karafka(h: _HeaderReader) -> DeadLetter:
    return DeadLetter(
        stage="karafka", owner=h.text("source_consumer_group") or "?",
        category=Category.UNEXPECTED.value, message="",
        original_topic=h.text("source_topic"), original_partition=h.integer("source_partition"),
        original_offset=h.integer("source_offset"),
    )


def _backbone(headers: Sequence[tuple[str, bytes | None]], problems: list[str]) -> DeadLetter:
    record = DeadLetter.from_headers(headers)
    problems.extend(record.problems)
    return record


_FOREIGN: tuple[tuple[str, str, Callable[[_HeaderReader], DeadLetter]], ...] = (
    ("__connect.errors.", "connect", _connect),
    ("kafka_dlt-", "spring", lambda h: _spring(h, "spring")),
    ("x-original-", "spring-cloud-stream", lambda h: _spring(h, "spring-cloud-stream")),
    ("__streams.errors.", "streams", _streams),
    ("source_topic", "karafka", _karafka),
)


def read_dead_letter(message: Any) -> DeadLetterMessage:
    """A :class:`DeadLetterMessage` from a confluent-kafka ``Message`` (or anything like one).

    Never raises: what could not be read is left empty and explained in ``problems``.
    """
    problems: list[str] = []
    if type(message) is Message:
        # confluent-kafka's own: typed accessors that never raise, headers as (str, bytes |
        # None) pairs; checking each of them as for a foreign object cost a third of a replay
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        timestamp, key, value = message.timestamp(), message.key(), message.value()
        headers: list[tuple[str, bytes | None]] = message.headers() or []
    else:
        timestamp = _call(message, "timestamp", problems)
        headers = _headers_of(message, problems)
        key, value = _call(message, "key", problems), _call(message, "value", problems)
        topic = _call(message, "topic", problems)
        partition = _call(message, "partition", problems)
        offset = _call(message, "offset", problems)
    timestamp_ms: int | None = None
    if isinstance(timestamp, tuple) and len(timestamp) == 2 and isinstance(timestamp[1], int):
        timestamp_ms = timestamp[1] if timestamp[0] != 0 and timestamp[1] >= 0 else None
    elif isinstance(timestamp, int):
        timestamp_ms = timestamp
    reader = _HeaderReader(headers, problems)
    dialect, record = "none", None
    if reader.has_prefix(PREFIX):
        dialect, record = "backbone", _backbone(headers, problems)
    else:
        for prefix, name, read in _FOREIGN:
            if reader.has_prefix(prefix):
                dialect = name
                try:
                    record = read(reader)
                except Exception as error:  # never let one odd header hide the record
                    problems.append(f"cannot read {name} headers: {error}")
                break
        else:
            problems.append("no dead-letter headers (backbone, Connect, Spring, Streams, "
                            "Karafka)")
    if record is None:
        record = DeadLetter(stage="?", owner="?", category=Category.UNEXPECTED.value,
                            message="")
    if record.correlation_id is None or record.traceparent is None:
        correlation_id = record.correlation_id or reader.text(CORRELATION_ID)
        traceparent = record.traceparent or reader.text(TRACEPARENT)
        if (correlation_id, traceparent) != (record.correlation_id, record.traceparent):
            record = replace(record, correlation_id=correlation_id, traceparent=traceparent)
    return DeadLetterMessage(
        topic=str(topic or "?"),
        partition=_as_int(partition),
        offset=_as_int(offset),
        timestamp_ms=timestamp_ms,
        key=key if isinstance(key, bytes) or key is None else str(key).encode(),
        value=value if isinstance(value, bytes) or value is None else str(value).encode(),
        headers=headers, record=record, dialect=dialect, problems=problems,
    )


def _as_int(value: Any) -> int:
    return value if isinstance(value, int) else -1
