"""The dead-letter record every stage writes: its header names, their types, and DeadLetter.

A dead letter keeps the failed input's key and value bytes untouched (a processor's input record,
a connector's CSV row / outbox row / X12 transaction set, a webhook body) and says in
``backbone.dlq.*`` headers, all UTF-8 text so every Kafka tool shows them:

    backbone.dlq.stage                connector | processor | webhook | sink
    backbone.dlq.owner                which one: erp-outbox, shipment-status, carrier-webhooks...
    backbone.dlq.step                 where inside the owner (decode, reduce, map...), optional
    backbone.dlq.category             backbone.errors.Category
    backbone.dlq.exception.class / .message / .stacktrace          secrets redacted, trimmed
    backbone.dlq.attempt              attempts made (1 for a failure that is not retried)
    backbone.dlq.first.failure / .last.failure                     times (format below)
    backbone.dlq.original.topic / .partition / .offset / .timestamp   a Kafka input's place
    backbone.dlq.source.<name>        a source input's place (SOURCE_FIELDS: file, row, ...)
    backbone.dlq.business.key / .correlation.id / .traceparent     what it was about, its trace
    backbone.dlq.replay.id / .replay.count / .replay.of            set once replayed

Every time is ISO-8601 UTC with milliseconds (``2026-12-04T15:58:00.123Z``), readable in Kafka
UI or AKHQ as it is; the reader also takes epoch milliseconds (records written before this
module). Headers of earlier backbone versions (``backbone.dlq.processor``, ``.connector``,
``.first_failure_time``, unprefixed ``.file``/``.row``...) are read too, so dead letters already
on a topic keep their owner and place.

This module writes and reads backbone's own dialect only; reading other frameworks' dead letters
(Kafka Connect, Spring...) is the operator tools' job (processors/dlq/dialects.py).
"""

from __future__ import annotations

import re
import time
import traceback
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from backbone import clients
from backbone.errors import Category, categorize

Headers = list[tuple[str, bytes]]

PREFIX = "backbone.dlq."
STAGE = "backbone.dlq.stage"
OWNER = "backbone.dlq.owner"
STEP = "backbone.dlq.step"
CATEGORY = "backbone.dlq.category"
EXCEPTION_CLASS = "backbone.dlq.exception.class"
EXCEPTION_MESSAGE = "backbone.dlq.exception.message"
EXCEPTION_STACKTRACE = "backbone.dlq.exception.stacktrace"
ATTEMPT = "backbone.dlq.attempt"
FIRST_FAILURE = "backbone.dlq.first.failure"
LAST_FAILURE = "backbone.dlq.last.failure"
ORIGINAL_TOPIC = "backbone.dlq.original.topic"
ORIGINAL_PARTITION = "backbone.dlq.original.partition"
ORIGINAL_OFFSET = "backbone.dlq.original.offset"
ORIGINAL_TIMESTAMP = "backbone.dlq.original.timestamp"
SOURCE_PREFIX = "backbone.dlq.source."
BUSINESS_KEY = "backbone.dlq.business.key"
CORRELATION = "backbone.dlq.correlation.id"
TRACEPARENT = "backbone.dlq.traceparent"
REPLAY_ID = "backbone.dlq.replay.id"
REPLAY_COUNT = "backbone.dlq.replay.count"
REPLAY_OF = "backbone.dlq.replay.of"  # "<dlq topic>:<partition>:<offset>" a replay was copied from

# The names a source input's place is told in (backbone.dlq.source.<name>), in display order.
SOURCE_FIELDS = (
    "file", "row", "columns", "segment", "byte_offset", "interchange", "group",
    "transaction_set", "isa", "gs", "database", "outbox_id", "outbox_seq", "webhook_id",
    "webhook_source", "content_type", "received_at", "archive", "sha256", "instance",
    "partition", "offset",
)
# Of those, the ones that say where (the rest are what replay needs to read the input again).
_PLACE_FIELDS = ("file", "row", "segment", "byte_offset", "transaction_set", "outbox_id",
                 "outbox_seq", "database", "webhook_source", "webhook_id", "archive")

MAX_MESSAGE_CHARS = 2_000
MAX_STACKTRACE_CHARS = 4_000
MAX_STACK_FRAMES = 12


class Stage(StrEnum):
    """Which stage of the backbone a dead letter comes from."""

    CONNECTOR = "connector"
    PROCESSOR = "processor"
    WEBHOOK = "webhook"
    SINK = "sink"


# --- time ------------------------------------------------------------------------------------


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def format_time(ms: int) -> str:
    """Epoch milliseconds as the dead letter's one time format: ISO-8601 UTC, ms, ``Z``."""
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(text: str) -> int:
    """Epoch ms of an ISO-8601 time (UTC unless it says) or of epoch-ms digits; ValueError."""
    text = text.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


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


def clip(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
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


def exception_class(error: BaseException) -> str:
    kind = type(error)
    if kind.__module__ == "builtins":
        return kind.__qualname__
    return f"{kind.__module__}.{kind.__qualname__}"


# --- the record ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeadLetter:
    """What a dead letter's headers say: who failed, where, why, and where the input came from.

    ``source`` holds a source input's place and what replay needs to read it again (keys from
    SOURCE_FIELDS); a Kafka input has ``original_topic`` and friends instead.
    ``problems`` lists what :meth:`from_headers` could not read (never written).
    """

    stage: str
    owner: str
    category: str
    message: str
    exception_class: str | None = None
    stacktrace: str | None = None
    step: str | None = None
    attempt: int = 1
    first_failure_ms: int | None = None
    last_failure_ms: int | None = None
    original_topic: str | None = None
    original_partition: int | None = None
    original_offset: int | None = None
    original_timestamp_ms: int | None = None
    source: Mapping[str, str] = field(default_factory=dict)
    business_key: str | None = None
    correlation_id: str | None = None
    traceparent: str | None = None
    replay_id: str | None = None
    replay_count: int = 0
    problems: tuple[str, ...] = ()

    @classmethod
    def from_error(
        cls, error: BaseException, *, stage: Stage, owner: str, message: str | None = None,
        category: Category | None = None, at_ms: int | None = None, **fields: object,
    ) -> DeadLetter:
        """The record of ``error`` failing now (or ``at_ms``): class, redacted message, stack.

        ``message`` replaces ``str(error)`` when the writer has a better one (it names the
        input and what to do); ``fields`` are the other dataclass fields.
        """
        failed_at = at_ms if at_ms is not None else now_ms()
        values: dict[str, object] = {
            "first_failure_ms": failed_at, "last_failure_ms": failed_at, **fields}
        return cls(
            stage=stage.value, owner=owner, category=(category or categorize(error)).value,
            message=clip(redact(message if message is not None else str(error))),
            exception_class=exception_class(error),
            stacktrace=trimmed_stacktrace(error) if error.__traceback__ else None,
            **values,  # type: ignore[arg-type]
        )

    @property
    def failed_at_ms(self) -> int | None:
        return self.last_failure_ms if self.last_failure_ms is not None else self.first_failure_ms

    @property
    def location(self) -> str:
        """Where the input was, for people: ``topic:partition:offset`` or ``file=x row=7``."""
        if self.original_topic:
            return f"{self.original_topic}:{self.original_partition}:{self.original_offset}"
        return " ".join(f"{name}={self.source[name]}" for name in _PLACE_FIELDS
                        if self.source.get(name))

    def to_headers(self) -> Headers:
        """The ``backbone.dlq.*`` headers of this record (absent values are left out)."""
        values: list[tuple[str, str | None]] = [
            (STAGE, self.stage),
            (OWNER, self.owner),
            (STEP, self.step),
            (CATEGORY, self.category),
            (EXCEPTION_CLASS, self.exception_class),
            (EXCEPTION_MESSAGE, self.message),
            (EXCEPTION_STACKTRACE, self.stacktrace),
            (ATTEMPT, str(self.attempt)),
            (FIRST_FAILURE, _time_or_none(self.first_failure_ms)),
            (LAST_FAILURE, _time_or_none(self.last_failure_ms)),
            (ORIGINAL_TOPIC, self.original_topic),
            (ORIGINAL_PARTITION, _str_or_none(self.original_partition)),
            (ORIGINAL_OFFSET, _str_or_none(self.original_offset)),
            (ORIGINAL_TIMESTAMP, _time_or_none(self.original_timestamp_ms)),
            *((SOURCE_PREFIX + name, value) for name, value in self.source.items()),
            (BUSINESS_KEY, self.business_key),
            (CORRELATION, self.correlation_id),
            (TRACEPARENT, self.traceparent),
            (REPLAY_ID, self.replay_id),
            (REPLAY_COUNT, str(self.replay_count) if self.replay_count else None),
        ]
        # backslashreplace: a reason may quote source text with a lone surrogate in it
        return [(name, text.encode("utf-8", "backslashreplace")) for name, text in values
                if text is not None]

    @classmethod
    def from_headers(cls, headers: Iterable[tuple[str, bytes | None]]) -> DeadLetter:
        """The record the ``backbone.dlq.*`` headers tell; never raises (see ``problems``)."""
        h = _Reader(headers)
        source = {name[len(SOURCE_PREFIX):]: text for name in h.names(SOURCE_PREFIX)
                  if (text := h.text(name)) is not None}
        if h.has_any(_LEGACY_SOURCE_HEADERS):
            for name in _LEGACY_SOURCE:  # written by connectors before this module
                if name not in source and (text := h.text(PREFIX + name)):
                    source[name] = text
        category = h.text(CATEGORY) or Category.UNEXPECTED.value
        if category not in Category.__members__:
            h.problems.append(f"header {CATEGORY} names no known category: {category!r}")
        owner = h.text(OWNER) or h.text(PREFIX + "processor") or h.text(PREFIX + "connector")
        stage, step = h.text(STAGE), h.text(STEP)
        if stage is not None and stage not in _STAGES:
            # earlier writers put the step (decode, source, edi-x12) in the stage header
            step, stage = stage, None
        return cls(
            stage=stage or _legacy_stage(h),
            owner=owner or "?",
            category=category,
            message=h.text(EXCEPTION_MESSAGE) or "",
            exception_class=h.text(EXCEPTION_CLASS),
            stacktrace=h.text(EXCEPTION_STACKTRACE),
            step=step,
            attempt=h.integer(ATTEMPT) or 1,
            first_failure_ms=h.time(FIRST_FAILURE) or h.time(PREFIX + "first_failure_time"),
            last_failure_ms=h.time(LAST_FAILURE) or h.time(PREFIX + "last_failure_time"),
            original_topic=h.text(ORIGINAL_TOPIC),
            original_partition=h.integer(ORIGINAL_PARTITION),
            original_offset=h.integer(ORIGINAL_OFFSET),
            original_timestamp_ms=h.time(ORIGINAL_TIMESTAMP),
            source=source,
            business_key=h.text(BUSINESS_KEY),
            correlation_id=h.text(CORRELATION),
            traceparent=h.text(TRACEPARENT),
            replay_id=h.text(REPLAY_ID),
            replay_count=h.integer(REPLAY_COUNT) or 0,
            problems=tuple(h.problems),
        )


_LEGACY_SOURCE = ("file", "row", "segment", "byte_offset", "interchange", "group",
                  "transaction_set", "outbox_id", "outbox_seq", "database", "sha256")
_LEGACY_SOURCE_HEADERS = frozenset(PREFIX + name for name in _LEGACY_SOURCE)
_STAGES = frozenset(stage.value for stage in Stage)


def _legacy_stage(h: _Reader) -> str:
    if h.text(PREFIX + "processor"):
        return Stage.PROCESSOR.value
    return Stage.CONNECTOR.value if h.names(PREFIX) else "?"


def _str_or_none(value: int | None) -> str | None:
    return None if value is None else str(value)


def _time_or_none(ms: int | None) -> str | None:
    return None if ms is None else format_time(ms)


# backbone's own bookkeeping on a record: the dead-letter record and the retry headers
BOOKKEEPING_PREFIXES = (PREFIX, "backbone.retry.")


def own_headers(headers: Iterable[tuple[str, bytes | None]] | None) -> Headers:
    """A record's own headers: without backbone's dead-letter and retry bookkeeping."""
    return [
        (key, value if value is not None else b"")
        for key, value in headers or ()
        if not key.startswith(BOOKKEEPING_PREFIXES)
    ]


class _Reader:
    """Typed access to one record's headers (the last value of a name wins) noting problems."""

    def __init__(self, headers: Iterable[tuple[str, bytes | None]]) -> None:
        self._values: dict[str, bytes | None] = dict(headers)
        self.problems: list[str] = []

    def names(self, prefix: str) -> Sequence[str]:
        return [name for name in self._values if name.startswith(prefix)]

    def has_any(self, names: frozenset[str]) -> bool:
        return not names.isdisjoint(self._values)

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
        if not text:
            return None
        try:
            return int(text.strip())
        except ValueError:
            self.problems.append(f"header {name} is not a number: {text[:40]!r}")
            return None

    def time(self, name: str) -> int | None:
        text = self.text(name)
        if not text:
            return None
        try:
            return parse_time(text)
        except ValueError:
            self.problems.append(f"header {name} is not a time (ISO-8601 or epoch ms): "
                                 f"{text[:40]!r}")
            return None
