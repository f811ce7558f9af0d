"""The commit watchdog: a commit that outlives its bound restarts the process in place."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from processors.commit_watchdog import CommitWatchdog

ROOT = Path(__file__).resolve().parents[3]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_commit_that_outlives_the_bound_restarts_and_logs_where_it_hung(
        caplog: pytest.LogCaptureFixture) -> None:
    clock, restarts = Clock(), []
    watchdog = CommitWatchdog(40.0, restart=lambda: restarts.append(clock.now), clock=clock)
    seen = []

    def hanging_commit(force: bool = False) -> str:
        clock.now += 39.0
        seen.append(watchdog.check())  # still within the bound
        clock.now += 2.0
        with caplog.at_level(logging.ERROR):
            seen.append(watchdog.check())
        return "committed"

    assert watchdog.guard(hanging_commit)(force=True) == "committed"
    assert seen == [False, True]
    assert restarts == [141.0]
    message = caplog.records[-1].getMessage()
    assert "has not returned after 41 s" in message
    assert "hanging_commit" in message  # the stack of the stuck call


def test_commits_that_return_in_time_and_idle_time_never_restart() -> None:
    clock, restarts = Clock(), []
    watchdog = CommitWatchdog(40.0, restart=lambda: restarts.append(1), clock=clock)
    commit = watchdog.guard(lambda: clock.__setattr__("now", clock.now + 30.0))
    for _ in range(5):
        commit()
        assert not watchdog.check()
    clock.now += 3600  # no commit running: idle is not stuck
    assert not watchdog.check()
    assert restarts == []


def test_a_failing_commit_is_no_longer_watched() -> None:
    clock = Clock()
    watchdog = CommitWatchdog(1.0, restart=lambda: pytest.fail("restarted"), clock=clock)

    def failing() -> None:
        raise RuntimeError("transaction aborted")

    with pytest.raises(RuntimeError, match="aborted"):
        watchdog.guard(failing)()
    clock.now += 10
    assert not watchdog.check()


def test_restart_in_place_runs_the_same_command_again_in_the_same_process() -> None:
    """A real process whose commit hangs: the watchdog thread execs it, same PID, same
    command line; the second run ends because its commit returns."""
    script = textwrap.dedent("""
        import os, time
        from processors.commit_watchdog import CommitWatchdog
        second = os.environ.get("WATCHDOG_TEST_RUN") == "2"
        print(f"run {'2' if second else '1'} pid {os.getpid()}", flush=True)
        os.environ["WATCHDOG_TEST_RUN"] = "2"   # exec keeps the environment
        watchdog = CommitWatchdog(0.3)
        watchdog.start()
        commit = watchdog.guard(lambda: time.sleep(0.05 if second else 3600))
        commit()
        print("committed", flush=True)
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split(" pid ")[0] for line in lines] == ["run 1", "run 2", "committed"]
    assert lines[0].split(" pid ")[1] == lines[1].split(" pid ")[1]  # restarted in place
    assert "has not returned after" in done.stderr
