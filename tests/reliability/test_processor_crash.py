"""A processor killed with SIGKILL mid-stream and restarted loses and duplicates nothing.

shipment-status runs as ``python -m backbone process`` over 2,250 milestones (450 shipments, 5
scans each, so every status carries state: a lost or doubled update shows in history_count).
A clean run on one set of fresh topics is compared with a run on another set that is killed
once part of the output is committed and then restarted on the same state directory and group.
"""

from __future__ import annotations

import json
import signal
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from backbone.events.logistics import ShipmentMilestone
from backbone.samples import sample_shipment_milestone
from processors.api import ProcessorTopics
from processors.shipment_status import processor as shipment_status
from tests.reliability.processor_harness import (
    count_committed,
    decoded,
    fresh_prefix,
    fresh_topics,
    processor_env,
    produce_events,
    read_committed,
    serde_for,
    start_processor,
)

pytestmark = pytest.mark.integration

RAW = "logistics.shipment-milestone.raw.v1"
STATUS = "logistics.shipment-status.v1"
SHIPMENTS, SCANS = 450, 5


def milestones() -> list[ShipmentMilestone]:
    events = []
    for seed in range(SHIPMENTS):
        first = sample_shipment_milestone(1000 + seed)
        for scan in range(SCANS):
            at = first.event_time + timedelta(minutes=scan)
            events.append(first.model_copy(update={
                "event_id": f"{first.event_id[:-4]}{scan:04d}", "event_time": at,
                "occurred_at": at}))
    return events


def committed_statuses(bootstrap: str, registry_url: str, prefix: str) -> list[tuple[str, str]]:
    serde = serde_for(registry_url)
    topics = ProcessorTopics.prefixed(shipment_status.SPEC, prefix)
    try:
        records = read_committed(bootstrap, topics.name(STATUS), expect=SHIPMENTS * SCANS,
                                 idle_s=2, timeout_s=60)
        statuses = decoded(serde, topics, STATUS, records)
    finally:
        serde.registry.close()
    return [(record.key or "", json.dumps(status.to_json_dict(), sort_keys=True))
            for record, status in zip(records, statuses, strict=True)]


def test_sigkill_and_restart_give_the_clean_runs_output_exactly(
        bootstrap_servers: str, registry_url: str, admin: AdminClient, tmp_path: Path) -> None:
    events = milestones()
    serde = serde_for(registry_url)
    prefixes = {"clean": fresh_prefix(), "crash": fresh_prefix()}
    try:
        for prefix in prefixes.values():
            topics = fresh_topics(admin, shipment_status.SPEC, partitions=2, prefix=prefix)
            produce_events(bootstrap_servers, serde, topics, RAW, events)
    finally:
        serde.registry.close()

    def env(run: str) -> dict[str, str]:
        return processor_env(bootstrap_servers, registry_url, prefixes[run], tmp_path / run,
                             f"{prefixes[run]}.")

    clean = start_processor("shipment-status", env("clean"), until_idle_s=4,
                            log=tmp_path / "clean.log")
    # Short transactions for the victim, so the kill lands between many commits: with the 1 s
    # default one commit can carry most of the stream on a fast machine.
    victim = start_processor("shipment-status",
                             {**env("crash"), "BACKBONE_PROCESSOR_COMMIT_INTERVAL_S": "0.1"},
                             log=tmp_path / "crash.log")
    seen = count_committed(bootstrap_servers, f"{prefixes['crash']}.{STATUS}", 500, 60)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)
    assert 0 < seen < len(events), "the kill must land mid-stream"
    restarted = start_processor("shipment-status", env("crash"), until_idle_s=4,
                                log=tmp_path / "crash.log")
    assert clean.wait(timeout=90) == 0, (tmp_path / "clean.log").read_text()[-3000:]
    assert restarted.wait(timeout=90) == 0, (tmp_path / "crash.log").read_text()[-3000:]

    with ThreadPoolExecutor(2) as pool:
        clean_out, crash_out = pool.map(
            lambda run: committed_statuses(bootstrap_servers, registry_url, prefixes[run]),
            ("clean", "crash"))
    assert len(clean_out) == len(events)  # one status per scan
    assert len(crash_out) == len(set(crash_out)), "duplicates after the restart"
    assert set(crash_out) == set(clean_out)
    last = {key: json.loads(value)["history_count"] for key, value in crash_out}
    assert set(last.values()) == {SCANS}
