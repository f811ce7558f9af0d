"""Broker faults while the publisher writes (acks=all, idempotent, RF 3, min ISR 2): the
partition leader SIGKILLed and restarted, a broker SIGSTOPped (grey failure), a rolling
restart of all three brokers. Nothing acknowledged is lost or reordered; duplicates (same
event_id) stay within the publisher's bound (workloads.PUBLISHER_DUPLICATE_BOUND).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from backbone.serde import AvroSerde
from tests.reliability.checker import check, header, longest_stall, read_committed
from tests.reliability.cluster import PAUSE_S, Cluster
from tests.reliability.workloads import (
    PUBLISHER_DUPLICATE_BOUND,
    PUBLISHER_DUPLICATE_NOTE,
    milestones,
    publish_under_fault,
)

# faults wait out failovers and timeouts; on a loaded 2-core machine a cell can take minutes
pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

RAW = "logistics.shipment-milestone.raw.v1"
KEYS, PER_KEY = 400, 5  # N = 2,000


def leader_kill(cluster: Cluster) -> Callable[[], None]:
    leader = cluster.leader_of(RAW)

    def fault() -> None:
        cluster.kill(leader)
        time.sleep(5)  # writes go on against the other two meanwhile
        cluster.restart(leader)

    return fault


def grey_pause(cluster: Cluster) -> Callable[[], None]:
    leader = cluster.leader_of(RAW)

    def fault() -> None:
        with cluster.paused(leader):
            time.sleep(PAUSE_S)

    return fault


def rolling_restart(cluster: Cluster) -> Callable[[], None]:
    def fault() -> None:
        cluster.rolling_restart(RAW)

    return fault


FAULTS = {
    "leader SIGKILL + restart": (leader_kill, 12.0),
    f"leader SIGSTOP {PAUSE_S:.0f}s": (grey_pause, PAUSE_S + 6),
    "rolling restart (SIGTERM each)": (rolling_restart, 40.0),
}


@pytest.mark.parametrize("fault_name", list(FAULTS))
def test_publisher_loses_and_reorders_nothing(
        healthy: Cluster, cluster_serde: AvroSerde, fault_name: str) -> None:
    make_fault, duration_s = FAULTS[fault_name]
    events, sent = milestones(KEYS, PER_KEY, seed=hash(fault_name) % 10_000)
    published = publish_under_fault(healthy.bootstrap, cluster_serde, events,
                                    make_fault(healthy), duration_s=duration_s)
    ids = read_committed({"bootstrap.servers": healthy.bootstrap}, [RAW], header("event_id"),
                         expect=len(sent))
    wanted = {s.id for s in sent}
    report = check(fault_name, f"publisher, N={len(sent)}", sent,
                   [i for i in ids if i in wanted],
                   recovery_s=longest_stall(published.acked_at, published.fault_at))
    report.note = PUBLISHER_DUPLICATE_NOTE
    report.record()
    assert not report.lost, report.summary()
    assert report.duplicates <= PUBLISHER_DUPLICATE_BOUND, report.summary()
    assert report.reordered == 0, report.summary()
