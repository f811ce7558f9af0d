"""The retry schedule (pure)."""

from __future__ import annotations

import pytest

from backbone import dead_letters as dl
from backbone.errors import Category
from processors.retry import (
    RetryPolicy,
    attempt_of,
    decide,
    not_before_of,
    original_topic_of,
    retry_headers,
)


def test_exponential_schedule_is_capped() -> None:
    policy = RetryPolicy(max_attempts=6, initial_delay_ms=1000, multiplier=2, max_delay_ms=5000)
    assert policy.schedule() == [1000, 2000, 4000, 5000, 5000]


def test_jitter_only_shortens_within_bounds() -> None:
    policy = RetryPolicy(jitter=0.2)
    assert policy.delay_ms(3, jitter_draw=0.0) == 4000
    assert policy.delay_ms(3, jitter_draw=0.999) >= 3200


def test_transient_retried_until_attempts_run_out() -> None:
    policy = RetryPolicy(max_attempts=3, initial_delay_ms=100)
    first = decide(policy, Category.TRANSIENT, 1, now_ms=10_000)
    assert first.retry and first.not_before_ms == 10_100
    assert decide(policy, Category.TRANSIENT, 2, now_ms=0).not_before_ms == 200
    assert not decide(policy, Category.TRANSIENT, 3, now_ms=0).retry


@pytest.mark.parametrize("category", [c for c in Category if c is not Category.TRANSIENT])
def test_other_categories_go_straight_to_dead_letter(category: Category) -> None:
    assert not decide(RetryPolicy(), category, 1, now_ms=0).retry


def test_bad_policies_are_refused_with_the_value() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="jitter"):
        RetryPolicy(jitter=1.5)


def test_retry_headers_round_trip_and_keep_first_coordinates() -> None:
    first = retry_headers(headers=[("traceparent", b"tp")], original_topic="raw.v1", partition=1,
                          offset=7, timestamp_ms=5, attempt=1, not_before_ms=900,
                          first_failure_ms=800)
    assert (attempt_of(first), not_before_of(first), original_topic_of(first)) == (1, 900,
                                                                                   "raw.v1")
    second = retry_headers(headers=first, original_topic="p.retry.v1", partition=0, offset=3,
                           timestamp_ms=6, attempt=2, not_before_ms=1900, first_failure_ms=1500)
    names = [name for name, _ in second]
    assert len(names) == len(set(names))
    values = dict(second)
    assert values[dl.ORIGINAL_TOPIC] == b"raw.v1"
    assert values[dl.ORIGINAL_OFFSET] == b"7"
    assert values[dl.FIRST_FAILURE] == b"1970-01-01T00:00:00.800Z"
    assert attempt_of(second) == 2
    assert values["traceparent"] == b"tp"
