"""The engine commits when its input runs dry, not while records keep coming."""

from __future__ import annotations

import time

from processors.engine import IdleCommit


def _policy(after_s: float) -> tuple[IdleCommit, list[float]]:
    commits: list[float] = []
    policy = IdleCommit(after_s)
    policy.commit = lambda: commits.append(time.monotonic())
    return policy, commits


def test_no_commit_while_every_poll_brings_a_record() -> None:
    policy, commits = _policy(0.0)
    for offset in range(100):
        policy.processed("t", 0, offset)
        policy.tick()
    assert commits == []


def test_an_empty_poll_commits_what_is_pending_once() -> None:
    policy, commits = _policy(0.0)
    policy.processed("t", 0, 1)
    policy.tick()  # the poll that brought the record
    policy.tick()  # an empty poll
    policy.tick()  # another: nothing pending any more
    assert len(commits) == 1


def test_nothing_pending_nothing_committed() -> None:
    policy, commits = _policy(0.0)
    for _ in range(10):
        policy.tick()
    assert commits == []


def test_an_empty_poll_waits_until_the_oldest_record_is_old_enough() -> None:
    policy, commits = _policy(0.05)
    policy.processed("t", 0, 1)
    policy.tick()
    policy.tick()
    assert commits == []  # idle, but the record is younger than 50 ms
    time.sleep(0.06)
    policy.tick()
    assert len(commits) == 1


def test_a_crashed_transaction_is_aborted_within_half_a_minute_not_a_minute() -> None:
    from processors.engine import transaction_timeout_ms

    assert transaction_timeout_ms(1.0) == 30_000  # not librdkafka's 60 s, but > a failover
    assert transaction_timeout_ms(0.1) == 30_000
    # a long interval keeps headroom: a transaction lives about one interval
    assert transaction_timeout_ms(30.0) == 150_000


def test_a_request_to_a_silent_broker_times_out_before_the_records_do() -> None:
    from processors.engine import silent_broker_timeouts, transaction_timeout_ms

    # message.timeout.ms is capped at the transaction timeout: a request to a silent broker
    # must time out, and leave room for a retry on the new leader, well before that
    for interval in (0.1, 1.0, 30.0):
        timeouts = silent_broker_timeouts(interval)
        assert timeouts["socket.timeout.ms"] * 3 <= transaction_timeout_ms(interval)
        assert "request.timeout.ms" not in timeouts  # producer-only: the consumer warns on it
    assert silent_broker_timeouts(1.0)["socket.timeout.ms"] == 10_000
    # new leaders are learnt within a fencing (9 s), not after librdkafka's 5 minutes
    assert silent_broker_timeouts(1.0)["topic.metadata.refresh.interval.ms"] <= 9_000
