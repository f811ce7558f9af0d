"""The dead-letter record: how a failed record is written, and how any dead letter is read back.

Written records keep the original key and value bytes untouched and the original record's own
headers (``traceparent``, ``correlation_id``...), and add ``backbone.dlq.*`` headers, all UTF-8
text so every Kafka tool can show them (times are epoch milliseconds as decimal text):

    backbone.dlq.original.topic / .partition / .offset / .timestamp   where the record came from
    backbone.dlq.processor / .stage / .category                       who failed, where, why
    backbone.dlq.exception.class / .message / .stacktrace             secrets redacted, trimmed
    backbone.dlq.attempt / .first.failure / .last.failure             retry history
    backbone.dlq.business.key / .correlation.id                       what it was about
    backbone.dlq.replay.id / .replay.count                            set once replayed

A record that comes back to a processor through its retry topic (a transient retry or an
operator replay) still carries the ``backbone.dlq.original.*`` headers of its first failure; when
it fails again those coordinates, its first-failure time and its replay id/count are kept, so a
dead letter always points at the record in the source topic, never at the retry topic.

:func:`read_dead_letter` reads any message back into a :class:`DeadLetter` without ever raising:
backbone's own headers, Kafka Connect's ``__connect.errors.*`` (strings), Spring Kafka's
``kafka_dlt-*`` and Spring Cloud Stream's ``x-original-*``/``x-exception-*`` (big-endian binary
ints/longs), Kafka Streams' ``__streams.errors.*`` (KIP-1034) and Karafka's ``source_*``.
What could not be read is listed in ``DeadLetter.problems``.
"""

from __future__ import annotations

import re
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from backbone import clients
from backbone.errors import Category, categorize
from backbone.headers import CORRELATION_ID

Headers = list[tuple[str, bytes]]

PREFIX = "backbone.dlq."
ORIGINAL_TOPIC = "backbone.dlq.original.topic"
ORIGINAL_PARTITION = "backbone.dlq.original.partition"
ORIGINAL_OFFSET = "backbone.dlq.original.offset"
ORIGINAL_TIMESTAMP = "backbone.dlq.original.timestamp"
PROCESSOR = "backbone.dlq.processor"
STAGE = "backbone.dlq.stage"
CATEGORY = "backbone.dlq.category"
EXCEPTION_CLASS = "backbone.dlq.exception.class"
EXCEPTION_MESSAGE = "backbone.dlq.exception.message"
EXCEPTION_STACKTRACE = "backbone.dlq.exception.stacktrace"
ATTEMPT = "backbone.dlq.attempt"
FIRST_FAILURE = "backbone.dlq.first.failure"
LAST_FAILURE = "backbone.dlq.last.failure"
BUSINESS_KEY = "backbone.dlq.business.key"
CORRELATION = "backbone.dlq.correlation.id"
REPLAY_ID = "backbone.dlq.replay.id"
REPLAY_COUNT = "backbone.dlq.replay.count"
REPLAY_OF = "backbone.dlq.replay.of"  # "<dlq topic>:<partition>:<offset>" a replay was copied from

# Retry side: a record on ``<processor>.retry.v1`` carries the ORIGINAL_* headers above (the
# processor decodes it as a record of ORIGINAL_TOPIC), the attempt it is on and the time before
# which it must not be processed (the retry consumer pauses the partition until then, it never
# sleeps inside a poll loop).
RETRY_ATTEMPT_HEADER = "backbone.retry.attempt"
RETRY_NOT_BEFORE_HEADER = "backbone.retry.not-before"
RETRY_ORIGINAL_TOPIC_HEADER = ORIGINAL_TOPIC
RETRY_PREFIX = "backbone.retry."

MAX_MESSAGE_CHARS = 2_000
MAX_STACKTRACE_CHARS = 4_000
MAX_STACK_FRAMES = 12

# --- redaction -------------------------------------------------------------------------------

_SECRET_NAMES = (
    r"password|passwd|pwd|secret|client[_-]?secret|token|access[_-]?token|refresh[_-]?token"
    r"|api[_-]?key|apikey|access[_-]?key|private[_-]?key|auth[_-]?token|signing[_-]?key"
    r"|sasl\.password|ssl\.key\.password|credentials?"
)
_REDACTIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    # scheme://user:password@host -> keep the user, hide the password
    (re.compile(r"(?P<pre>[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*):[^/\s@]*@"), r"\g<pre>:***@"),
    (re.compile(r"whsec_[A-Za-z0-9+/=_-]+"), "whsec_***"),
    (re.compile(r"\b(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]+"), "***"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), "***"),  # JWTs
    (re.compile(r"(?i)\b(?P<scheme>bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), r"\g<scheme> ***"),
    (
        re.compile(
            rf"(?i)(?P<name>\b(?:{_SECRET_NAMES})\b)(?P<sep>[\"']?\s*[:=]\s*[\"']?)"
            r"(?P<value>[^\s\"',;&}]+)"
        ),
        r"\g<name>\g<sep>***",
    ),
)


def redact(text: str) -> str:
    """``text`` with anything that looks like a secret replaced by ``***``: every secret this
    process was configured with (backbone.clients), then what has a secret's shape."""
    text = clients.redact(text)
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    suffix = f"... [{len(text) - limit} chars cut]"
    return text[: limit - len(suffix)] + suffix


def trimmed_stacktrace(error: BaseException) -> str:
    """The last frames of ``error``'s traceback (the ones nearest the failure), redacted."""
    frames = traceback.extract_tb(error.__traceback__)[-MAX_STACK_FRAMES:]
    lines = traceback.format_list(frames)
    lines += traceback.format_exception_only(type(error), error)
    cause = error.__cause__ or error.__context__
    if cause is not None and not error.__suppress_context__:
        lines.append("caused by: " + "".join(traceback.format_exception_only(type(cause), cause)))
    text = redact("".join(lines))
    if len(text) > MAX_STACKTRACE_CHARS:
        text = "..." + text[-(MAX_STACKTRACE_CHARS - 3):]
    return text


def _exception_class(error: BaseException) -> str:
    kind = type(error)
    if kind.__module__ == "builtins":
        return kind.__qualname__
    return f"{kind.__module__}.{kind.__qualname__}"


# --- writing ---------------------------------------------------------------------------------


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def _text(headers: Sequence[tuple[str, bytes | None]], name: str) -> str | None:
    """The last value of header ``name`` as text, ``None`` when absent or not UTF-8."""
    for key, value in reversed(headers):
        if key == name:
            if value is None:
                return None
            try:
                return value.decode("utf-8")
            except UnicodeDecodeError:
                return None
    return None


def _int_or_none(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def own_headers(headers: Iterable[tuple[str, bytes | None]] | None) -> Headers:
    """The record's own headers: without backbone's dead-letter and retry bookkeeping."""
    return [
        (key, value if value is not None else b"")
        for key, value in headers or ()
        if not key.startswith(PREFIX) and not key.startswith(RETRY_PREFIX)
    ]


def dead_letter_record(
    *,
    key: bytes | None,
    value: bytes | None,
    original_topic: str,
    partition: int,
    offset: int,
    timestamp_ms: int | None,
    processor: str,
    stage: str,
    error: BaseException,
    attempt: int,
    first_failure_ms: int | None,
    business_key: str | None,
    correlation_id: str | None,
    replay_id: str | None = None,
    headers: Iterable[tuple[str, bytes | None]] | None = None,
    last_failure_ms: int | None = None,
) -> tuple[bytes | None, bytes | None, Headers]:
    """Key, value and headers of the dead letter for one failed record.

    ``headers`` are the failed record's own headers; they are kept. When the failed record came
    through the retry topic (it carries ``backbone.dlq.original.*``), its first coordinates,
    first-failure time and replay id/count win over the arguments (see the module docstring).
    """
    incoming = list(headers or ())
    failed_at = last_failure_ms if last_failure_ms is not None else now_ms()
    coordinates = (original_topic, partition, offset, timestamp_ms)
    inherited_topic = _text(incoming, ORIGINAL_TOPIC)
    if inherited_topic:
        coordinates = (
            inherited_topic,
            _int_or_none(_text(incoming, ORIGINAL_PARTITION)) or 0,
            _int_or_none(_text(incoming, ORIGINAL_OFFSET)) or 0,
            _int_or_none(_text(incoming, ORIGINAL_TIMESTAMP)),
        )
    earliest = [t for t in (first_failure_ms, _int_or_none(_text(incoming, FIRST_FAILURE))) if t]
    first = min(earliest) if earliest else failed_at
    replay_id = replay_id or _text(incoming, REPLAY_ID)
    replay_count = _int_or_none(_text(incoming, REPLAY_COUNT))
    correlation = correlation_id or _text(incoming, CORRELATION_ID)

    topic, part, off, ts = coordinates
    added: list[tuple[str, str | None]] = [
        (ORIGINAL_TOPIC, topic),
        (ORIGINAL_PARTITION, str(part)),
        (ORIGINAL_OFFSET, str(off)),
        (ORIGINAL_TIMESTAMP, None if ts is None else str(ts)),
        (PROCESSOR, processor),
        (STAGE, stage),
        (CATEGORY, categorize(error).value),
        (EXCEPTION_CLASS, _exception_class(error)),
        (EXCEPTION_MESSAGE, _clip(redact(str(error)), MAX_MESSAGE_CHARS)),
        (EXCEPTION_STACKTRACE, trimmed_stacktrace(error)),
        (ATTEMPT, str(attempt)),
        (FIRST_FAILURE, str(first)),
        (LAST_FAILURE, str(failed_at)),
        (BUSINESS_KEY, business_key),
        (CORRELATION, correlation),
        (REPLAY_ID, replay_id),
        (REPLAY_COUNT, None if replay_count is None else str(replay_count)),
    ]
    result = own_headers(incoming)
    result += [(name, text.encode("utf-8")) for name, text in added if text is not None]
    return key, value, result


# --- reading ---------------------------------------------------------------------------------


@dataclass
class DeadLetter:
    """A dead letter as read back from any topic, with whatever its headers told."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]]
    dialect: str = "none"  # backbone | connect | spring | spring-cloud-stream | streams | karafka
    original_topic: str | None = None
    original_partition: int | None = None
    original_offset: int | None = None
    original_timestamp_ms: int | None = None
    processor: str | None = None
    stage: str | None = None
    category: str | None = None
    exception_class: str | None = None
    exception_message: str | None = None
    stacktrace: str | None = None
    attempt: int | None = None
    first_failure_ms: int | None = None
    last_failure_ms: int | None = None
    business_key: str | None = None
    correlation_id: str | None = None
    replay_id: str | None = None
    replay_count: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def coordinates(self) -> str:
        return f"{self.topic}:{self.partition}:{self.offset}"

    @property
    def failed_at_ms(self) -> int | None:
        """When it last failed: the header, else the dead letter's own timestamp."""
        return self.last_failure_ms if self.last_failure_ms is not None else self.timestamp_ms


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
    """Typed access to one record's headers that notes every value it cannot read."""

    def __init__(self, headers: Sequence[tuple[str, bytes | None]], problems: list[str]) -> None:
        self._values: dict[str, bytes | None] = {}
        for name, value in headers:
            self._values[name] = value
        self.problems = problems

    def has(self, name: str) -> bool:
        return name in self._values

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


def _read_backbone(letter: DeadLetter, h: _HeaderReader) -> None:
    letter.dialect = "backbone"
    letter.original_topic = h.text(ORIGINAL_TOPIC)
    letter.original_partition = h.integer(ORIGINAL_PARTITION)
    letter.original_offset = h.integer(ORIGINAL_OFFSET)
    letter.original_timestamp_ms = h.integer(ORIGINAL_TIMESTAMP)
    letter.processor = h.text(PROCESSOR)
    letter.stage = h.text(STAGE)
    letter.category = h.text(CATEGORY)
    letter.exception_class = h.text(EXCEPTION_CLASS)
    letter.exception_message = h.text(EXCEPTION_MESSAGE)
    letter.stacktrace = h.text(EXCEPTION_STACKTRACE)
    letter.attempt = h.integer(ATTEMPT)
    letter.first_failure_ms = h.integer(FIRST_FAILURE)
    letter.last_failure_ms = h.integer(LAST_FAILURE)
    letter.business_key = h.text(BUSINESS_KEY)
    letter.correlation_id = h.text(CORRELATION) or h.text(CORRELATION_ID)
    letter.replay_id = h.text(REPLAY_ID)
    letter.replay_count = h.integer(REPLAY_COUNT) or 0
    if letter.category is not None and letter.category not in Category.__members__:
        letter.problems.append(f"header {CATEGORY} names no known category: {letter.category!r}")


def _foreign_category(stage: str | None, exception_class: str | None) -> str:
    """A category for dead letters other frameworks wrote (they record classes, not causes)."""
    text = f"{stage or ''} {exception_class or ''}".lower()
    if "convert" in text or "serializ" in text or "deserializ" in text:
        return Category.DESERIALIZATION.value
    if "timeout" in text or "retriable" in text or "retryable" in text:
        return Category.TRANSIENT.value
    return Category.UNEXPECTED.value


def _read_connect(letter: DeadLetter, h: _HeaderReader) -> None:
    p = "__connect.errors."
    letter.dialect = "connect"
    letter.original_topic = h.text(p + "topic")
    letter.original_partition = h.integer(p + "partition")
    letter.original_offset = h.integer(p + "offset")
    letter.processor = h.text(p + "connector.name")
    letter.stage = h.text(p + "stage")
    letter.exception_class = h.text(p + "exception.class.name")
    letter.exception_message = h.text(p + "exception.message")
    letter.stacktrace = h.text(p + "exception.stacktrace")
    letter.category = _foreign_category(letter.stage, letter.exception_class)


def _read_spring(letter: DeadLetter, h: _HeaderReader, dialect: str) -> None:
    letter.dialect = dialect
    original, exception = (
        ("kafka_dlt-original-", "kafka_dlt-exception-")
        if dialect == "spring"
        else ("x-original-", "x-exception-")
    )
    letter.original_topic = h.text(original + "topic")
    letter.original_partition = h.binary_integer(original + "partition")
    letter.original_offset = h.binary_integer(original + "offset")
    letter.original_timestamp_ms = h.binary_integer(original + "timestamp")
    letter.processor = h.text(original + "consumer-group")
    cause = h.text(exception + "cause-fqcn")
    letter.exception_class = cause or h.text(exception + "fqcn")
    letter.exception_message = h.text(exception + "message")
    letter.stacktrace = h.text(exception + "stacktrace")
    letter.attempt = h.binary_integer("retry_topic-attempts")
    letter.category = _foreign_category(None, letter.exception_class)


def _read_streams(letter: DeadLetter, h: _HeaderReader) -> None:
    p = "__streams.errors."
    letter.dialect = "streams"
    letter.original_topic = h.text(p + "topic")
    letter.original_partition = h.integer(p + "partition")
    letter.original_offset = h.integer(p + "offset")
    letter.exception_class = h.text(p + "exception")
    letter.exception_message = h.text(p + "message")
    letter.stacktrace = h.text(p + "stacktrace")
    letter.category = _foreign_category(None, letter.exception_class)


def _read_karafka(letter: DeadLetter, h: _HeaderReader) -> None:
    letter.dialect = "karafka"
    letter.original_topic = h.text("source_topic")
    letter.original_partition = h.integer("source_partition")
    letter.original_offset = h.integer("source_offset")
    letter.processor = h.text("source_consumer_group")
    letter.category = Category.UNEXPECTED.value


_DIALECTS: tuple[tuple[str, Callable[[DeadLetter, _HeaderReader], None]], ...] = (
    (PREFIX, _read_backbone),
    ("__connect.errors.", _read_connect),
    ("kafka_dlt-", lambda letter, h: _read_spring(letter, h, "spring")),
    ("x-original-", lambda letter, h: _read_spring(letter, h, "spring-cloud-stream")),
    ("__streams.errors.", _read_streams),
    ("source_topic", _read_karafka),
)


def read_dead_letter(message: Any) -> DeadLetter:
    """A :class:`DeadLetter` from a confluent-kafka ``Message`` (or anything shaped like one).

    Never raises: what could not be read is left ``None`` and explained in ``problems``.
    """
    problems: list[str] = []
    timestamp = _call(message, "timestamp", problems)
    timestamp_ms: int | None = None
    if isinstance(timestamp, tuple) and len(timestamp) == 2 and isinstance(timestamp[1], int):
        timestamp_ms = timestamp[1] if timestamp[0] != 0 and timestamp[1] >= 0 else None
    elif isinstance(timestamp, int):
        timestamp_ms = timestamp
    headers = _headers_of(message, problems)
    key, value = _call(message, "key", problems), _call(message, "value", problems)
    letter = DeadLetter(
        topic=str(_call(message, "topic", problems) or "?"),
        partition=_as_int(_call(message, "partition", problems)),
        offset=_as_int(_call(message, "offset", problems)),
        timestamp_ms=timestamp_ms,
        key=key if isinstance(key, bytes) or key is None else str(key).encode(),
        value=value if isinstance(value, bytes) or value is None else str(value).encode(),
        headers=headers,
        problems=problems,
    )
    reader = _HeaderReader(headers, problems)
    for prefix, read in _DIALECTS:
        if reader.has_prefix(prefix):
            try:
                read(letter, reader)
            except Exception as error:  # never let one odd header hide the record
                problems.append(f"cannot read {letter.dialect} headers: {error}")
            break
    else:
        problems.append("no dead-letter headers (backbone, Connect, Spring, Streams, Karafka)")
    if letter.correlation_id is None:
        letter.correlation_id = reader.text(CORRELATION_ID)
    return letter


def _as_int(value: Any) -> int:
    return value if isinstance(value, int) else -1
