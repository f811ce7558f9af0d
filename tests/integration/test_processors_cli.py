"""``backbone process shipment-status --until-idle 5`` as an operator types it, and its /metrics."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from backbone.events.logistics import ShipmentStatus
from backbone.samples import sample_shipment_milestone
from processors.api import ProcessorTopics
from processors.shipment_status import processor as shipment_status
from tests.reliability.processor_harness import (
    Record,
    decoded_as,
    free_port,
    fresh_prefix,
    fresh_topics,
    processor_env,
    produce_events,
    produce_raw,
    read_committed,
    scrape,
    serde_for,
    start_processor,
)

pytestmark = pytest.mark.integration

RAW = "logistics.shipment-milestone.raw.v1"
STATUS = "logistics.shipment-status.v1"
DLQ = "shipment-status.dlq.v1"


@dataclass(frozen=True)
class Run:
    prefix: str
    exit_code: int
    log: str
    metrics: str  # /metrics once every input was accounted for
    statuses: list[Record]
    letters: list[Record]
    sent: list[tuple[str, str]]  # (carrier, tracking) of the good milestones


@pytest.fixture(scope="module")
def run(bootstrap_servers: str, registry_url: str, admin: AdminClient,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    serde = serde_for(registry_url)
    prefix = fresh_prefix()
    topics = fresh_topics(admin, shipment_status.SPEC, prefix=prefix)
    good = [sample_shipment_milestone(seed) for seed in (11, 12, 13)]
    unknown = sample_shipment_milestone(14, raw_status=good[0].raw_status.model_copy(
        update={"code": "ZZ-NOT-A-CODE"}))
    produce_events(bootstrap_servers, serde, topics, RAW, good)
    produce_raw(bootstrap_servers, topics.name(RAW), "UPSN:POISON", b"\x00garbage")
    produce_events(bootstrap_servers, serde, topics, RAW, [unknown])

    tmp = tmp_path_factory.mktemp("process-cli")
    port = free_port()
    env = processor_env(bootstrap_servers, registry_url, prefix, tmp / "state",
                        f"{prefix}.", BACKBONE_METRICS_PORT=str(port))
    child = start_processor("shipment-status", env, until_idle_s=5, log=tmp / "log")
    metrics = ""
    deadline = time.monotonic() + 60
    # scrape while the process still runs: 5 records in, 3 statuses and 2 dead letters out
    while child.poll() is None and time.monotonic() < deadline:
        try:
            metrics = scrape(port)
        except OSError:
            metrics = ""
        if _sample(metrics, "backbone_processor_latency_seconds_count",
                   processor="shipment-status") >= 5:
            break
        time.sleep(0.3)
    exit_code = child.wait(timeout=60)
    yield Run(prefix, exit_code, (tmp / "log").read_text(errors="replace"), metrics,
              read_committed(bootstrap_servers, f"{prefix}.{STATUS}", expect=3),
              read_committed(bootstrap_servers, f"{prefix}.{DLQ}", expect=2),
              [(event.carrier, event.tracking_number) for event in good])
    serde.registry.close()


def _sample(metrics: str, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels``."""
    total = 0.0
    for line in metrics.splitlines():
        match = re.fullmatch(r"(\w+)(?:\{(.*)\})? (\S+)", line)
        if not match or match[1] != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match[2] or ""))
        if all(found.get(key) == value for key, value in labels.items()):
            total += float(match[3])
    return total


def test_the_processor_stops_by_itself_after_the_idle_time_with_exit_code_0(run: Run) -> None:
    assert run.exit_code == 0, run.log


def test_statuses_and_dead_letters_are_committed_on_the_prefixed_topics(
        run: Run, registry_url: str) -> None:
    serde = serde_for(registry_url)
    try:
        topics = ProcessorTopics.prefixed(shipment_status.SPEC, run.prefix)
        statuses = decoded_as(ShipmentStatus, serde, topics, STATUS, run.statuses)
    finally:
        serde.registry.close()
    assert sorted((s.carrier, s.tracking_number, s.milestone.value) for s in statuses) == sorted(
        (carrier, tracking, "OUT_FOR_DELIVERY") for carrier, tracking in run.sent)
    assert [r.key for r in run.statuses] == [f"{c}:{t}" for c, t in run.sent]
    assert [r.headers["backbone.dlq.category"] for r in run.letters] == [
        b"DESERIALIZATION", b"UNKNOWN_CODE"]


def test_metrics_export_events_in_and_out_dead_letters_and_latency(run: Run) -> None:
    m, name = run.metrics, "shipment-status"
    assert _sample(m, "backbone_processor_events_in_total", processor=name,
                   topic=f"{run.prefix}.{RAW}") == 5
    assert _sample(m, "backbone_processor_events_out_total", processor=name,
                   topic=STATUS, outcome="output") == 3
    assert _sample(m, "backbone_processor_events_out_total", processor=name,
                   outcome="dead_letter") == 2
    assert _sample(m, "backbone_processor_dead_letters_total", processor=name,
                   category="DESERIALIZATION") == 1
    assert _sample(m, "backbone_processor_dead_letters_total", processor=name,
                   category="UNKNOWN_CODE") == 1
    assert _sample(m, "backbone_processor_latency_seconds_count", processor=name) == 5
    assert _sample(m, "backbone_processor_latency_seconds_bucket", processor=name,
                   le="+Inf") == 5
    assert _sample(m, "backbone_processor_latency_seconds_sum", processor=name) > 0
    # every status written is timed against its business time (the samples are years old)
    assert _sample(m, "backbone_processor_event_age_seconds_count", processor=name) == 3
    assert _sample(m, "backbone_processor_event_age_seconds_bucket", processor=name,
                   le="86400.0") == 0


def test_an_unknown_processor_name_is_refused_with_the_known_names(
        bootstrap_servers: str, registry_url: str, tmp_path: Path) -> None:
    child = start_processor("shipment-states", processor_env(
        bootstrap_servers, registry_url, "unused", tmp_path, "unused."), log=tmp_path / "log")
    assert child.wait(timeout=60) == 2
    text = (tmp_path / "log").read_text()
    assert "no processor named 'shipment-states'" in text
    assert "shipment-status, order-fulfillment, stock-reconciliation" in text
