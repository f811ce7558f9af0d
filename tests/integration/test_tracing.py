"""correlation_id and traceparent travel from the source document to derived events and DLQ."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from backbone.headers import new_traceparent
from backbone.samples import sample_shipment_milestone
from backbone.serde import AvroSerde
from connectors.edi_x12 import read_file
from connectors.edi_x12.mapping import map_transaction_set
from processors.shipment_status import processor as shipment_status
from producers import EventPublisher
from tests.reliability.processor_harness import (
    fresh_topics,
    options,
    read_committed,
    run_until_idle,
    serde_for,
)

pytestmark = pytest.mark.integration

RAW = "logistics.shipment-milestone.raw.v1"
DEMO_856 = Path(__file__).resolve().parents[2] / "demo/samples/edi/northwind__856_ASN-77164.edi"
CORPUS_214 = (Path(__file__).resolve().parents[3] / "shared/corpus/x12"
              / "x12-types__test_214__parse_214_1.edi")


@pytest.fixture
def serde(registry_url: str) -> Iterator[AvroSerde]:
    codec = serde_for(registry_url)
    yield codec
    codec.registry.close()


def _trace_id(traceparent: bytes) -> str:
    return traceparent.decode().split("-")[1]


def test_status_and_dead_letter_carry_the_milestones_trace(
        bootstrap_servers: str, serde: AvroSerde, admin: AdminClient, tmp_path: Path) -> None:
    topics = fresh_topics(admin, shipment_status.SPEC)
    good = sample_shipment_milestone(31)
    good = good.model_copy(update={"correlation": good.correlation.model_copy(
        update={"correlation_id": "PO-4500012345"})})
    unknown = sample_shipment_milestone(32, raw_status=good.raw_status.model_copy(
        update={"code": "ZZ-UNMAPPED"}))
    parent = new_traceparent()
    raw = replace(topics.topic(RAW), name=topics.name(RAW))
    with EventPublisher(bootstrap_servers, serde) as publisher:
        publisher.publish_batch([good, unknown], topic=raw, traceparent=parent)

    run_until_idle(shipment_status.with_mappings(shipment_status.current_mappings()), serde,
                   options(bootstrap_servers, topics, tmp_path))

    [status] = read_committed(bootstrap_servers,
                              topics.name("logistics.shipment-status.v1"), expect=1)
    assert status.headers["correlation_id"] == b"PO-4500012345"
    assert _trace_id(status.headers["traceparent"]) == _trace_id(parent.encode())
    assert status.headers["traceparent"] != parent.encode()  # a child span, not a copy
    [letter] = read_committed(bootstrap_servers, topics.name("shipment-status.dlq.v1"),
                              expect=1)
    assert letter.headers["correlation_id"] == unknown.event_id.encode()
    assert _trace_id(letter.headers["traceparent"]) == _trace_id(parent.encode())


@pytest.mark.parametrize("path", [DEMO_856, CORPUS_214], ids=["856", "214"])
def test_every_event_of_an_interchange_shares_its_correlation_id(path: Path) -> None:
    events = [event for result in read_file(path) if result.accepted
              for event in map_transaction_set(result, file=path.name)]
    assert events
    correlation_ids = {event.correlation.correlation_id for event in events}
    [correlation_id] = correlation_ids
    assert correlation_id is not None and correlation_id.startswith("X12:")
