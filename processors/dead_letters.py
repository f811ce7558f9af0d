"""A processor's dead letter: the failed input record plus backbone's dead-letter record.

The record itself (header names, types, times) is backbone/dead_letters.py; this module fills it
for a processor: the original key and value bytes and the record's own headers (``traceparent``,
``correlation_id``...) are kept, the ``backbone.dlq.*`` headers say the rest.

A record that comes back to a processor through its retry topic (a transient retry or an
operator replay) still carries the ``backbone.dlq.original.*`` headers of its first failure; when
it fails again those coordinates, its first-failure time and its replay id/count are kept, so a
dead letter always points at the record in the source topic, never at the retry topic.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from backbone.dead_letters import (
    FIRST_FAILURE,
    ORIGINAL_OFFSET,
    ORIGINAL_PARTITION,
    ORIGINAL_TIMESTAMP,
    ORIGINAL_TOPIC,
    REPLAY_COUNT,
    REPLAY_ID,
    DeadLetter,
    Headers,
    Stage,
    now_ms,
    own_headers,
    parse_time,
)
from backbone.headers import CORRELATION_ID, TRACEPARENT

__all__ = ["RETRY_ATTEMPT_HEADER", "RETRY_NOT_BEFORE_HEADER", "dead_letter_record", "now_ms"]

# Retry side: a record on ``<processor>.retry.v1`` carries the ORIGINAL_* headers (the processor
# decodes it as a record of ORIGINAL_TOPIC), the attempt it is on and the time before which it
# must not be processed (epoch ms: machine bookkeeping read on every retried record; the retry
# consumer pauses the partition until then, it never sleeps inside a poll loop).
RETRY_ATTEMPT_HEADER = "backbone.retry.attempt"
RETRY_NOT_BEFORE_HEADER = "backbone.retry.not-before"
RETRY_ORIGINAL_TOPIC_HEADER = ORIGINAL_TOPIC
RETRY_PREFIX = "backbone.retry."


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


def _time_or_none(text: str | None) -> int | None:
    try:
        return parse_time(text) if text else None
    except ValueError:
        return None


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

    ``stage`` is the processor's step that failed (decode, reduce, encode). ``headers`` are the
    failed record's own headers; they are kept. When the failed record came through the retry
    topic (it carries ``backbone.dlq.original.*``), its first coordinates, first-failure time
    and replay id/count win over the arguments (see the module docstring).
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
            _time_or_none(_text(incoming, ORIGINAL_TIMESTAMP)),
        )
    earliest = [t for t in (first_failure_ms, _time_or_none(_text(incoming, FIRST_FAILURE)))
                if t]
    topic, part, off, ts = coordinates
    record = DeadLetter.from_error(
        error, stage=Stage.PROCESSOR, owner=processor, step=stage, attempt=attempt,
        at_ms=failed_at,
        first_failure_ms=min(earliest) if earliest else failed_at,
        original_topic=topic, original_partition=part, original_offset=off,
        original_timestamp_ms=ts, business_key=business_key,
        correlation_id=correlation_id or _text(incoming, CORRELATION_ID),
        traceparent=_text(incoming, TRACEPARENT),
        replay_id=replay_id or _text(incoming, REPLAY_ID),
        replay_count=_int_or_none(_text(incoming, REPLAY_COUNT)) or 0,
    )
    return key, value, own_headers(incoming) + record.to_headers()
