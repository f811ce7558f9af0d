"""Faults while each of the three processors runs on the three-node cluster: the processor
SIGKILLed mid-transaction, the leader of its output SIGKILLed, a zombie instance resumed after
its partitions moved, a second instance joining and the first leaving. In every case the
committed output equals a clean run's: nothing lost, nothing twice, nothing reordered per key.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import ConfigResource, NewTopic

from tests.reliability.checker import Report
from tests.reliability.cluster import PAUSE_S, Cluster
from tests.reliability.processor_runs import (
    WORKLOADS,
    ProcessorRun,
    clean_outputs,
    judge,
    prepared_run,
)

# faults wait out failovers and timeouts; on a loaded 2-core machine a cell can take minutes
pytestmark = [pytest.mark.integration, pytest.mark.processor_matrix, pytest.mark.timeout(900)]

PROCESSORS = list(WORKLOADS)
OUTLASTING_S = 45.0  # longer than the processors' transaction timeout (30 s at 0.1 s commits)
FAST_COMMITS = {"BACKBONE_PROCESSOR_COMMIT_INTERVAL_S": "0.1"}  # many transactions to land in


def assert_exactly_once(report: Report, run: ProcessorRun) -> None:
    """The checker's verdict; a failure shows the end of each instance's log too."""
    report.record()
    failure = f"{report.summary()}\n{run.log()}"
    assert not report.lost, failure
    assert report.duplicates == 0, failure
    assert report.reordered == 0, failure
    assert not report.note, failure  # nothing the clean run did not write


@pytest.mark.parametrize("name", PROCESSORS)
def test_processor_sigkill_mid_transaction_then_restart(
        healthy: Cluster, tmp_path: Path, name: str) -> None:
    clean = clean_outputs(healthy, name, tmp_path)
    run = prepared_run(healthy, name, tmp_path)
    try:
        victim = run.start(0, **FAST_COMMITS)
        seen = run.committed(len(clean) // 10)
        victim.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        victim.wait(timeout=30)
        assert 0 < seen < len(clean), "the kill must land mid-stream"
        run.start(0)
        run.committed(seen + 1)
        recovery = time.monotonic() - killed_at
        outputs = run.finish(clean.expect)
    finally:
        run.stop_all()
    assert_exactly_once(judge("processor SIGKILL + restart", run, clean, outputs,
                              recovery_s=recovery), run)


@pytest.mark.parametrize("name", PROCESSORS)
def test_output_leader_sigkill_while_the_processor_runs(
        healthy: Cluster, tmp_path: Path, name: str) -> None:
    clean = clean_outputs(healthy, name, tmp_path)
    run = prepared_run(healthy, name, tmp_path)
    try:
        run.start(0, **FAST_COMMITS)
        seen = run.committed(len(clean) // 10)
        leader = healthy.leader_of(run.outputs[0])
        healthy.kill(leader)
        killed_at = time.monotonic()
        run.committed(seen + 50)
        recovery = time.monotonic() - killed_at
        healthy.restart(leader)
        outputs = run.finish(clean.expect)
    finally:
        run.stop_all()
    assert_exactly_once(judge("leader SIGKILL + restart", run, clean, outputs,
                              recovery_s=recovery), run)


def test_a_resumed_zombie_writes_nothing_visible(healthy: Cluster, tmp_path: Path) -> None:
    """Instance 1 is SIGSTOPped mid-stream; instance 2 (same group) takes its partitions over
    after the session timeout and finishes; instance 1 is resumed with open transactions and
    must be fenced: the output is still exactly the clean run's."""
    name = "shipment-status"
    clean = clean_outputs(healthy, name, tmp_path)
    run = prepared_run(healthy, name, tmp_path)
    try:
        zombie = run.start(0, **FAST_COMMITS)
        run.committed(len(clean) // 10)
        zombie.send_signal(signal.SIGSTOP)
        stopped_at = time.monotonic()
        run.start(1)
        run.read(expect=len(clean), timeout_s=180)  # the successor wrote everything
        recovery = time.monotonic() - stopped_at
        zombie.send_signal(signal.SIGCONT)
        time.sleep(5)  # let it try to commit what it had in hand
        outputs = run.finish(clean.expect)
    finally:
        run.stop_all()
    assert_exactly_once(judge("zombie: SIGSTOP, successor, SIGCONT", run, clean, outputs,
                              recovery_s=recovery), run)


def test_grey_failure_of_the_output_leader_while_a_processor_runs(
        healthy: Cluster, tmp_path: Path) -> None:
    """The node leading the processor's output SIGSTOPped for 30 s (alive for the OS, silent
    for the cluster: fenced after the broker session) and resumed. stock-reconciliation: it
    re-keys, so its repartition and changelog partitions on that node are hit as well."""
    name = "stock-reconciliation"
    clean = clean_outputs(healthy, name, tmp_path)
    run = prepared_run(healthy, name, tmp_path)
    try:
        run.start(0, **FAST_COMMITS)
        seen = run.committed(len(clean) // 10)
        with healthy.paused(healthy.leader_of(run.outputs[0])):
            paused_at = time.monotonic()
            run.committed(seen + 50)  # goes on without the silent node
            recovery = time.monotonic() - paused_at
            time.sleep(max(0.0, PAUSE_S - recovery))
        outputs = run.finish(clean.expect)
    finally:
        run.stop_all()
    assert_exactly_once(judge(f"leader SIGSTOP {PAUSE_S:.0f}s", run, clean, outputs,
                              recovery_s=recovery), run)


def test_a_silent_node_outlasting_the_transaction_timeout_restarts_the_processor(
        healthy: Cluster, tmp_path: Path) -> None:
    """The leader of the processor's output SIGSTOPped for longer than the transaction
    timeout, on a topic whose two replicas must both acknowledge a write: the other replica
    takes over but refuses writes (NOT_ENOUGH_REPLICAS) until the node is back, so the records
    time out, the transaction fails, and the processor restarts in place by itself
    (processors/restarts.py); once the node is back it finishes, exactly once. The grey
    failure's worst case made certain: in the cell above, a failover slower than the records'
    30 s limit did the same now and then (tests/reliability/README.md)."""
    name = "shipment-status"
    clean = clean_outputs(healthy, name, tmp_path)
    run = prepared_run(healthy, name, tmp_path)
    output = run.outputs[0]
    node = healthy.leader_of(output)
    other = next(n.node_id for n in healthy.nodes() if n.node_id != node.node_id)
    # two replicas, both required: the new leader refuses every write until the node is back
    recreate_on(healthy, output, [node.node_id, other])
    try:
        instance = run.start(0, **FAST_COMMITS)
        seen = run.committed(len(clean) // 10)
        with healthy.paused(node):
            time.sleep(OUTLASTING_S)
        still_up = instance.poll() is None
        outputs = run.finish(clean.expect)
    finally:
        run.stop_all()
    assert 0 < seen < len(clean), "the pause must land mid-stream"
    log = run.log()
    assert "restarting this processor in place from its last commit" in log, log
    assert "transient broker fault" in log, log  # the error that failed it, named
    assert still_up, log  # the same process (restarted in place: same PID) went on
    fault = f"output leader SIGSTOP {OUTLASTING_S:.0f}s, min ISR = RF = 2"
    assert_exactly_once(judge(fault, run, clean, outputs), run)


def recreate_on(cluster: Cluster, topic: str, node_ids: list[int]) -> None:
    """``topic`` (still empty) deleted and created again with its replicas on ``node_ids``
    (the first leads) and as many in sync required for a write."""
    admin = cluster.admin()
    admin.delete_topics([topic])[topic].result(timeout=30)
    deadline = time.monotonic() + 30
    while True:
        futures = admin.create_topics([NewTopic(
            topic, num_partitions=1, replication_factor=-1, replica_assignment=[node_ids],
            config={"min.insync.replicas": str(len(node_ids))})])
        try:
            futures[topic].result(timeout=30)
            return
        except KafkaException as error:  # the deletion is still under way
            if time.monotonic() > deadline:
                raise AssertionError(f"could not create {topic} again: {error}") from error
            time.sleep(0.5)


def test_rolling_restart_while_a_processor_runs(healthy: Cluster, tmp_path: Path) -> None:
    """Every node stopped (SIGTERM) and restarted in turn while order-fulfillment works: three
    leadership moves, and the group and transaction coordinators move with them."""
    name = "order-fulfillment"
    clean = clean_outputs(healthy, name, tmp_path)
    run = prepared_run(healthy, name, tmp_path)
    try:
        run.start(0, **FAST_COMMITS)
        run.committed(len(clean) // 10)
        healthy.rolling_restart(run.outputs[0])
        outputs = run.finish(clean.expect)
    finally:
        run.stop_all()
    assert_exactly_once(judge("rolling restart (SIGTERM each)", run, clean, outputs), run)


@pytest.mark.parametrize("name", PROCESSORS)
def test_scale_out_then_in_under_load(healthy: Cluster, tmp_path: Path, name: str) -> None:
    clean = clean_outputs(healthy, name, tmp_path)
    run = prepared_run(healthy, name, tmp_path)
    try:
        first = run.start(0, **FAST_COMMITS)
        run.committed(len(clean) // 10)
        run.start(1, **FAST_COMMITS)  # joins: partitions rebalance under load
        time.sleep(4)
        first.terminate()  # leaves: its partitions go to the second
        assert first.wait(timeout=60) == 0, run.log()
        outputs = run.finish(clean.expect)
    finally:
        run.stop_all()
    assert_exactly_once(judge("scale out to 2, then in to 1", run, clean, outputs), run)


def test_internal_topics_are_replicated_like_the_catalog(healthy: Cluster,
                                                         tmp_path: Path) -> None:
    """Quix's changelog and repartition topics: RF 3, min ISR 2, no unclean election (not RF 1
    as Quix would make them)."""
    clean_outputs(healthy, "order-fulfillment", tmp_path)  # has both kinds
    admin = healthy.admin()
    topics = admin.list_topics(timeout=10).topics
    internal = [t for t in topics if t.startswith(("changelog__", "repartition__"))]
    assert any(t.startswith("repartition__") for t in internal), internal
    resources = [ConfigResource(ConfigResource.Type.TOPIC, t) for t in internal]
    for resource, future in admin.describe_configs(resources).items():
        config = future.result(timeout=10)
        replicas = {len(p.replicas) for p in topics[resource.name].partitions.values()}
        assert (replicas, config["min.insync.replicas"].value,
                config["unclean.leader.election.enable"].value) == ({3}, "2", "false"), \
            resource.name
