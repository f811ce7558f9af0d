"""Restarts a processor whose exactly-once commit never returns.

librdkafka can block ``send_offsets_to_transaction`` forever, whatever timeout it is given,
when the broker it cached as the consumer group's coordinator has left the cluster: a
SIGKILLed broker drops out of the metadata, librdkafka decommissions it, and the coordinator
request keeps waiting for that broker to come back up without ever being woken
(confluentinc/librdkafka#5511 and #5456, both open; seen here with confluent-kafka 2.12 in the
fault matrix: stock-reconciliation hung in that call for minutes after the leader of its
output was killed, while its consumer kept heartbeating, so the group never moved its
partitions either).

Such a commit cannot succeed any more once the transaction timeout has passed (the broker
aborts the transaction then). So a commit still running ``transaction timeout + GRACE_S``
after it began is stuck: the watchdog logs the stack of the stuck call and restarts the
process in place (``exec`` of the same command line: same PID, so a supervisor or a test
holding the process sees it live on). The new process is a plain restart for exactly-once:
the broker has aborted the open transaction, the group gives the partitions to the new
member, and the committed offsets and changelog are where the last successful commit left
them. Exit code and command line stay the operator's; the log says what happened.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from processors.restarts import restart_in_place

log = logging.getLogger(__name__)

GRACE_S = 10.0  # past the transaction timeout, beyond any failover a commit can wait out
CHECK_EVERY_S = 1.0


class CommitWatchdog:
    """Watches every commit of one processor; restarts it when one outlives ``bound_s``."""

    def __init__(self, bound_s: float, restart: Callable[[], None] = restart_in_place,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.bound_s = bound_s
        self._restart = restart
        self._clock = clock
        self._since: float | None = None  # when the running commit began
        self._thread = threading.Thread(target=self._watch, name="commit-watchdog", daemon=True)
        self._committer: int | None = None  # thread id of the commit, for its stack

    def guard(self, commit: Callable[..., Any]) -> Callable[..., Any]:
        """``commit`` with its start and end noted for the watchdog."""

        def guarded(*args: Any, **kwargs: Any) -> Any:
            self._committer = threading.get_ident()
            self._since = self._clock()
            try:
                return commit(*args, **kwargs)
            finally:
                self._since = None

        return guarded

    def start(self) -> None:
        self._thread.start()

    def check(self) -> bool:
        """True (after restarting, which does not return in production) when the running
        commit has outlived the bound."""
        since = self._since
        if since is None or self._clock() - since < self.bound_s:
            return False
        frame = sys._current_frames().get(self._committer or 0)
        stack = "".join(traceback.format_stack(frame)) if frame is not None else "(gone)"
        log.error(
            "the exactly-once commit has not returned after %.0f s (bound: the transaction "
            "timeout + %.0f s), so it can no longer succeed: the Kafka client is stuck (known "
            "librdkafka defect after the group coordinator's broker left the cluster, "
            "confluentinc/librdkafka#5511). Restarting this processor in place; the broker "
            "aborts the open transaction, nothing is lost or written twice. Stuck in:\n%s",
            self._clock() - since, GRACE_S, stack)
        self._restart()
        return True

    def _watch(self) -> None:
        while not self.check():
            time.sleep(CHECK_EVERY_S)
