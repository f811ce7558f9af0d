"""The retry schedule: when a transient failure is tried again, and when it becomes a dead letter.

Pure: no clock, no randomness of its own, no I/O. A processor that hits a ``TransientError``
produces the record to ``<processor>.retry.v1`` with the headers :func:`retry_headers` returns;
its retry consumer pauses that partition until ``backbone.retry.not-before`` (it never sleeps in
the poll loop, so other partitions keep flowing) and then processes the record as a record of
its original topic. After ``max_attempts`` attempts the record is dead-lettered instead. Records
an operator replays arrive on the same retry topic with attempt 0 and no not-before (due now).

Delays grow exponentially, ``initial_delay_ms * multiplier**(attempt-1)``, capped at
``max_delay_ms``, with up to ``jitter`` (a fraction) taken off so retries of many records that
failed together do not arrive together.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from backbone.dead_letters import (
    FIRST_FAILURE,
    ORIGINAL_OFFSET,
    ORIGINAL_PARTITION,
    ORIGINAL_TIMESTAMP,
    ORIGINAL_TOPIC,
    Headers,
    format_time,
    own_headers,
    parse_time,
)
from backbone.errors import Category
from processors.dead_letters import RETRY_ATTEMPT_HEADER, RETRY_NOT_BEFORE_HEADER

RETRYABLE = frozenset({Category.TRANSIENT})


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how far apart a transient failure is tried again."""

    max_attempts: int = 5  # attempts in total, the first (failed) one included
    initial_delay_ms: int = 1_000
    multiplier: float = 2.0
    max_delay_ms: int = 5 * 60 * 1000
    jitter: float = 0.2

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        if self.initial_delay_ms < 0 or self.max_delay_ms < self.initial_delay_ms:
            raise ValueError(
                f"delays must satisfy 0 <= initial ({self.initial_delay_ms} ms) <= max "
                f"({self.max_delay_ms} ms)"
            )
        if self.multiplier < 1:
            raise ValueError(f"multiplier must be >= 1, got {self.multiplier}")
        if not 0 <= self.jitter < 1:
            raise ValueError(f"jitter must be a fraction in [0, 1), got {self.jitter}")

    def delay_ms(self, attempt: int, jitter_draw: float = 0.0) -> int:
        """The wait after failed attempt ``attempt`` (1-based); ``jitter_draw`` in [0, 1)."""
        if attempt < 1:
            raise ValueError(f"attempt is 1-based, got {attempt}")
        base = min(self.initial_delay_ms * self.multiplier ** (attempt - 1), self.max_delay_ms)
        return int(base * (1 - self.jitter * min(max(jitter_draw, 0.0), 1.0)))

    def schedule(self) -> list[int]:
        """The waits between all attempts, without jitter (for docs and operators)."""
        return [self.delay_ms(attempt) for attempt in range(1, self.max_attempts)]


@dataclass(frozen=True)
class RetryDecision:
    """What to do with a failed record: retry at ``not_before_ms`` or dead-letter it."""

    retry: bool
    attempt: int  # the attempt that just failed
    not_before_ms: int | None = None
    reason: str = ""


def decide(
    policy: RetryPolicy,
    category: Category,
    attempt: int,
    now_ms: int,
    jitter_draw: float = 0.0,
) -> RetryDecision:
    """Retry a transient failure while attempts remain; dead-letter everything else."""
    if category not in RETRYABLE:
        return RetryDecision(False, attempt, reason=f"{category.value} is not retried")
    if attempt >= policy.max_attempts:
        return RetryDecision(
            False, attempt, reason=f"gave up after {attempt} of {policy.max_attempts} attempts"
        )
    wait = policy.delay_ms(attempt, jitter_draw)
    return RetryDecision(True, attempt, now_ms + wait, reason=f"retry in {wait} ms")


def retry_headers(
    *,
    headers: Iterable[tuple[str, bytes | None]] | None,
    original_topic: str,
    partition: int,
    offset: int,
    timestamp_ms: int | None,
    attempt: int,
    not_before_ms: int | None,
    first_failure_ms: int,
) -> Headers:
    """Headers of a record sent to the retry topic after failed attempt ``attempt``.

    A record already coming from the retry topic keeps its first coordinates and first-failure
    time (the values in its headers win over the arguments).
    """
    incoming = list(headers or ())
    inherited = {name: value for name, value in incoming if name.startswith("backbone.dlq.")}
    result = own_headers(incoming)
    result += [(name, value or b"") for name, value in inherited.items()
               if name != FIRST_FAILURE]
    if ORIGINAL_TOPIC not in inherited:
        result += [
            (ORIGINAL_TOPIC, original_topic.encode()),
            (ORIGINAL_PARTITION, str(partition).encode()),
            (ORIGINAL_OFFSET, str(offset).encode()),
        ]
        if timestamp_ms is not None:
            result.append((ORIGINAL_TIMESTAMP, format_time(timestamp_ms).encode()))
    first = _time(inherited.get(FIRST_FAILURE))
    result.append((FIRST_FAILURE, format_time(min(first, first_failure_ms) if first else
                                              first_failure_ms).encode()))
    result.append((RETRY_ATTEMPT_HEADER, str(attempt).encode()))
    if not_before_ms is not None:
        result.append((RETRY_NOT_BEFORE_HEADER, str(not_before_ms).encode()))
    return result


def _int(value: bytes | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def _time(value: bytes | None) -> int | None:
    try:
        return parse_time(value.decode("utf-8")) if value else None
    except (UnicodeDecodeError, ValueError):
        return None


def _last(headers: Sequence[tuple[str, bytes | None]], name: str) -> bytes | None:
    for key, value in reversed(headers):
        if key == name:
            return value
    return None


def attempt_of(headers: Sequence[tuple[str, bytes | None]] | None) -> int:
    """Attempts already made on a record (0 for a record never retried or freshly replayed)."""
    return _int(_last(headers or (), RETRY_ATTEMPT_HEADER)) or 0


def not_before_of(headers: Sequence[tuple[str, bytes | None]] | None) -> int | None:
    """The epoch ms before which a retry record must not be processed (None: due now)."""
    return _int(_last(headers or (), RETRY_NOT_BEFORE_HEADER))


def original_topic_of(headers: Sequence[tuple[str, bytes | None]] | None) -> str | None:
    """The topic a retry record must be decoded as (None: not a retry record)."""
    value = _last(headers or (), ORIGINAL_TOPIC)
    try:
        return value.decode("utf-8") if value else None
    except UnicodeDecodeError:
        return None
