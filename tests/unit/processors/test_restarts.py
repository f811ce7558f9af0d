"""Which failures restart a processor in place, and how many times (processors/restarts.py).
The restart itself on a real cluster: tests/reliability/test_processor_faults.py."""

from __future__ import annotations

import os

import pytest
from confluent_kafka import KafkaError, KafkaException
from quixstreams.checkpointing.exceptions import CheckpointProducerTimeout
from quixstreams.kafka.exceptions import KafkaProducerDeliveryError

from processors.restarts import (
    MAX_RESTARTS,
    STREAK_VARIABLE,
    WINDOW_S,
    RestartStreak,
    is_transient,
    restart_after,
)


def delivery_error(code: int, **flags: bool) -> KafkaProducerDeliveryError:
    return KafkaProducerDeliveryError(KafkaError(code, **flags))


@pytest.mark.parametrize("error", [
    delivery_error(KafkaError._MSG_TIMED_OUT),  # a failover outlasting the records' limit
    KafkaException(KafkaError(KafkaError._TIMED_OUT)),  # a transaction call that timed out
    KafkaException(KafkaError(KafkaError.NOT_ENOUGH_REPLICAS, retriable=True)),
    KafkaException(KafkaError(KafkaError.INVALID_TXN_STATE, txn_requires_abort=True)),
    CheckpointProducerTimeout("1 message(s) not delivered"),
], ids=repr)
def test_broker_faults_that_pass_are_transient(error: Exception) -> None:
    assert is_transient(error)


@pytest.mark.parametrize("error", [
    KafkaException(KafkaError(KafkaError._FENCED, fatal=True)),  # a zombie: never again
    # fatal wins over a time-out further down the chain
    KafkaException(KafkaError(KafkaError._MSG_TIMED_OUT, fatal=True)),
    delivery_error(KafkaError.TOPIC_AUTHORIZATION_FAILED),  # an ACL: an operator must act
    delivery_error(KafkaError.MSG_SIZE_TOO_LARGE),
    ValueError("a bug in a processor"),
], ids=repr)
def test_fatal_errors_and_bugs_are_not(error: Exception) -> None:
    assert not is_transient(error)


def test_a_transient_error_wrapped_by_another_exception_is_found() -> None:
    try:
        try:
            raise delivery_error(KafkaError._MSG_TIMED_OUT)
        except KafkaProducerDeliveryError as cause:
            raise RuntimeError("checkpoint failed") from cause
    except RuntimeError as error:
        assert is_transient(error)


def test_the_streak_allows_max_restarts_within_the_window_then_none() -> None:
    streak = RestartStreak()
    for expected in range(1, MAX_RESTARTS + 1):
        next_streak = streak.next(1_000.0 + expected)
        assert next_streak is not None
        streak = next_streak
        assert streak.count == expected and streak.since == 1_001.0
    assert streak.next(1_001.0 + WINDOW_S - 1) is None


def test_a_new_streak_starts_once_the_window_has_passed() -> None:
    spent = RestartStreak(MAX_RESTARTS, 1_000.0)
    assert spent.next(1_000.0 + WINDOW_S + 1) == RestartStreak(1, 1_000.0 + WINDOW_S + 1)


def test_the_streak_survives_exec_through_the_environment() -> None:
    streak = RestartStreak(3, 1_234.0)
    assert RestartStreak.from_environment({STREAK_VARIABLE: streak.as_variable()}) == streak
    assert RestartStreak.from_environment({}) == RestartStreak()
    assert RestartStreak.from_environment({STREAK_VARIABLE: "garbage"}) == RestartStreak()


def test_restart_after_restarts_a_transient_failure_and_says_why(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(STREAK_VARIABLE, raising=False)
    restarted, logged = [], []
    done = restart_after(delivery_error(KafkaError._MSG_TIMED_OUT),
                         lambda *args: logged.append(args[0] % args[1:]),
                         restart=lambda: restarted.append(True), clock=lambda: 5_000.0)
    assert done and restarted == [True]
    assert "Message timed out" in logged[0] and "restart 1 of at most 5" in logged[0]
    assert os.environ[STREAK_VARIABLE] == "1 5000"  # what the restarted process reads


def test_restart_after_leaves_a_fatal_error_to_the_caller(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(STREAK_VARIABLE, raising=False)
    done = restart_after(delivery_error(KafkaError.TOPIC_AUTHORIZATION_FAILED),
                         lambda *args: pytest.fail("logged"),
                         restart=lambda: pytest.fail("restarted"))
    assert not done


def test_restart_after_stops_once_the_budget_is_spent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(STREAK_VARIABLE, f"{MAX_RESTARTS} 5000")
    logged: list[str] = []
    done = restart_after(delivery_error(KafkaError._MSG_TIMED_OUT),
                         lambda *args: logged.append(args[0] % args[1:]),
                         restart=lambda: pytest.fail("restarted"), clock=lambda: 5_060.0)
    assert not done
    assert "the fault is not passing" in logged[0]
