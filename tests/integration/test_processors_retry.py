"""Transient failures on the real broker: retried off the main partition, then dead-lettered."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka.admin import AdminClient

from backbone.dead_letters import parse_time
from backbone.errors import TransientError
from backbone.events import Event
from backbone.samples import sample_shipment_milestone
from backbone.serde import AvroSerde
from processors.dead_letters import RETRY_ATTEMPT_HEADER, RETRY_NOT_BEFORE_HEADER
from processors.shipment_status import processor as shipment_status
from processors.step import ProcessorLogic
from tests.reliability.processor_harness import (
    fresh_topics,
    options,
    produce_events,
    read_committed,
    run_until_idle,
    serde_for,
)

pytestmark = pytest.mark.integration

RAW = "logistics.shipment-milestone.raw.v1"
STATUS = "logistics.shipment-status.v1"


@dataclass
class CarrierLookup:
    """Test double of a flaky dependency: fails the first ``failures[key]`` calls for a key."""

    failures: dict[str, int]
    calls: dict[str, int] = field(default_factory=dict)

    def handle(self, key: str, topic: str, event: Event, stored: Any) -> Any:
        self.calls[key] = self.calls.get(key, 0) + 1
        if self.calls[key] <= self.failures.get(key, 0):
            raise TransientError(f"carrier lookup for {key} timed out (call {self.calls[key]})")
        return partial(shipment_status.handle, shipment_status.current_mappings())(
            key, topic, event, stored)


@pytest.fixture
def serde(registry_url: str) -> Iterator[AvroSerde]:
    codec = serde_for(registry_url)
    yield codec
    codec.registry.close()


def test_a_transient_failure_is_retried_after_its_back_off_while_later_records_flow(
        bootstrap_servers: str, serde: AvroSerde, admin: AdminClient, tmp_path: Path) -> None:
    topics = fresh_topics(admin, shipment_status.SPEC)
    flaky, steady = sample_shipment_milestone(21), sample_shipment_milestone(22)
    flaky_key = f"{flaky.carrier}:{flaky.tracking_number}"
    steady_key = f"{steady.carrier}:{steady.tracking_number}"
    lookup = CarrierLookup({flaky_key: 2})  # attempts 1 and 2 fail, 3 succeeds
    produce_events(bootstrap_servers, serde, topics, RAW, [flaky, steady])

    engine = options(bootstrap_servers, topics, tmp_path)  # 3 attempts, 200 ms then 400 ms
    run_until_idle(ProcessorLogic(shipment_status.SPEC, lookup.handle), serde, engine)

    out = read_committed(bootstrap_servers, topics.name(STATUS), expect=2)
    # the steady record behind the failing one was not held up by its back-off
    assert [r.key for r in out] == [steady_key, flaky_key]
    retries = read_committed(bootstrap_servers, topics.name(shipment_status.SPEC.retry_topic),
                             expect=2)
    # a retry read before it is due is requeued as it was: keep the first of each attempt
    first_tries = list({r.headers[RETRY_ATTEMPT_HEADER]: r for r in reversed(retries)}.values())
    first_tries.reverse()
    assert [r.key for r in first_tries] == [flaky_key, flaky_key]
    assert [r.headers[RETRY_ATTEMPT_HEADER] for r in first_tries] == [b"1", b"2"]
    assert all(r.value == first_tries[0].value for r in first_tries)  # original bytes
    assert first_tries[0].headers["backbone.dlq.original.topic"] == topics.name(RAW).encode()
    waits = [int(r.headers[RETRY_NOT_BEFORE_HEADER]) - parse_time(
        r.headers["backbone.dlq.first.failure"].decode()) for r in first_tries]
    assert waits[0] == 200 and waits[1] >= 400  # the schedule, jitter off
    assert lookup.calls == {flaky_key: 3, steady_key: 1}
    assert read_committed(bootstrap_servers, topics.name(shipment_status.SPEC.dlq_topic),
                          idle_s=1) == []


def test_a_record_failing_every_attempt_becomes_a_transient_dead_letter(
        bootstrap_servers: str, serde: AvroSerde, admin: AdminClient, tmp_path: Path) -> None:
    topics = fresh_topics(admin, shipment_status.SPEC)
    broken = sample_shipment_milestone(23)
    key = f"{broken.carrier}:{broken.tracking_number}"
    lookup = CarrierLookup({key: 99})
    produce_events(bootstrap_servers, serde, topics, RAW, [broken])

    run_until_idle(ProcessorLogic(shipment_status.SPEC, lookup.handle), serde,
                   options(bootstrap_servers, topics, tmp_path))

    [letter] = read_committed(bootstrap_servers, topics.name(shipment_status.SPEC.dlq_topic),
                              expect=1)
    assert (letter.key, letter.headers["backbone.dlq.category"],
            letter.headers["backbone.dlq.attempt"]) == (key, b"TRANSIENT", b"3")
    assert letter.headers["backbone.dlq.original.topic"] == topics.name(RAW).encode()
    assert letter.headers["backbone.dlq.original.offset"] == b"0"
    assert b"timed out (call 3)" in letter.headers["backbone.dlq.exception.message"]
    assert lookup.calls == {key: 3}
    assert read_committed(bootstrap_servers, topics.name(STATUS), idle_s=1) == []
