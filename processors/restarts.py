"""Restarting a processor in place after a transient broker fault failed its transaction.

Under exactly-once a processor's transaction can fail for reasons that pass: a partition
leader that went silent (SIGSTOP, a frozen VM) or died and whose failover outlasted the
records' delivery limit (``message.timeout.ms``, capped at the transaction timeout), a
request timed out, a coordinator moved. Quix then aborts the transaction and stops the
application. Nothing is lost or written twice (the outputs of the failed transaction are
never visible to ``read_committed`` readers, and the offsets and changelog stay where the last
successful commit left them) but the processor is down: a failure a few seconds longer than
the timeouts would stop every processor that had a record in flight. Kafka Streams recovers
from the same errors by itself (it re-initialises the task from its last commit); ``backbone
process`` does the same the simplest way, by re-executing itself (same PID and command line,
as the commit watchdog does), which resumes from the last commit.

Only transient errors restart (librdkafka's own classification: retriable, or "abort the
transaction and go on", plus the local time-outs); fatal ones (fenced, unauthorised, a bad
configuration) and bugs stop the process with their message, as before. Restarts are
bounded: more than ``MAX_RESTARTS`` within ``WINDOW_S`` means the fault is not passing, and
the process exits with the error for its supervisor and operator to see.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException

EXIT_NOT_RESTARTED = 75  # EX_TEMPFAIL: try again (only when exec itself fails)
MAX_RESTARTS = 5
WINDOW_S = 600.0
STREAK_VARIABLE = "BACKBONE_PROCESSOR_RESTARTS"  # "<count> <epoch of the streak's first>"

# errors librdkafka raises locally when a broker does not answer in time; a delivery report
# carries them without the retriable flag, yet a fresh start after the failover succeeds
_LOCAL_TIME_OUTS = frozenset({
    KafkaError._MSG_TIMED_OUT,
    KafkaError._TIMED_OUT,
    KafkaError._TIMED_OUT_QUEUE,
    KafkaError._TRANSPORT,
    KafkaError._ALL_BROKERS_DOWN,
})


def restart_in_place() -> None:
    """Replace this process with a fresh run of the same command (same PID)."""
    logging.shutdown()  # flush the handlers: exec discards whatever is buffered
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execv(sys.executable, sys.orig_argv)
    except OSError as error:  # exec refused: exit instead, for a supervisor to restart
        print(f"backbone: restart in place failed ({error}); exiting", file=sys.stderr,
              flush=True)
        os._exit(EXIT_NOT_RESTARTED)


def _kafka_errors(error: BaseException) -> Iterator[KafkaError]:
    """The librdkafka errors carried by ``error`` and the exceptions it was raised from."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        carried = getattr(current, "error", None)  # Quix's Kafka exceptions
        if isinstance(current, KafkaException) and current.args:
            carried = current.args[0]
        if isinstance(carried, KafkaError):
            yield carried
        current = current.__cause__ or current.__context__


def is_transient(error: BaseException) -> bool:
    """True when ``error`` is a broker fault a fresh start from the last commit gets past."""
    found = list(_kafka_errors(error))
    if any(kafka_error.fatal() for kafka_error in found):
        return False
    if any(kafka_error.retriable() or kafka_error.txn_requires_abort()
           or kafka_error.code() in _LOCAL_TIME_OUTS for kafka_error in found):
        return True
    # the checkpoint's flush returned with records still undelivered (Quix's own error)
    return type(error).__name__ == "CheckpointProducerTimeout"


@dataclass(frozen=True)
class RestartStreak:
    """Restarts in a row: how many, and when the first of them happened (epoch seconds)."""

    count: int = 0
    since: float = 0.0

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> RestartStreak:
        count, _, since = environ.get(STREAK_VARIABLE, "").partition(" ")
        try:
            return cls(int(count), float(since))
        except ValueError:
            return cls()

    def next(self, now: float) -> RestartStreak | None:
        """The streak after one more restart at ``now``; None when the budget is spent."""
        if self.count == 0 or now - self.since > WINDOW_S:
            return RestartStreak(1, now)
        if self.count >= MAX_RESTARTS:
            return None
        return RestartStreak(self.count + 1, self.since)

    def as_variable(self) -> str:
        return f"{self.count} {self.since:.0f}"


def restart_after(error: BaseException, log: Callable[..., None],
                  restart: Callable[[], None] = restart_in_place,
                  clock: Callable[[], float] = time.time) -> bool:
    """Restart in place when ``error`` is transient and the budget allows; False (nothing
    done) otherwise, for the caller to stop with the error."""
    if not is_transient(error):
        return False
    streak = RestartStreak.from_environment().next(clock())
    if streak is None:
        log("the transaction failed again (%s: %s) after %d restarts in %.0f min: the fault "
            "is not passing, stopping", type(error).__name__, error, MAX_RESTARTS,
            WINDOW_S / 60)
        return False
    os.environ[STREAK_VARIABLE] = streak.as_variable()  # exec keeps the environment
    log("the exactly-once transaction failed on a transient broker fault (%s: %s). The "
        "broker aborts it; restarting this processor in place from its last commit, nothing "
        "is lost or written twice (restart %d of at most %d in %.0f min)",
        type(error).__name__, error, streak.count, MAX_RESTARTS, WINDOW_S / 60)
    restart()
    return True
