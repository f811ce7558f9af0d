"""One poller round with in-memory carriers, publisher and store (Kafka itself:
tests/integration/test_carrier_tracking.py): a long Retry-After holds back only its carrier, and
the loop sleeps until a shipment can be asked, never spins."""

from __future__ import annotations

from concurrent.futures import Future
from pathlib import Path
from typing import Any

from backbone.events.logistics import ShipmentMilestone
from backbone.topics import Topic
from connectors.carrier_tracking import Answer, CarrierGate, Intervals, TrackingPoller
from connectors.carrier_tracking.schedule import discovered
from processors.shipment_status import load_mappings
from producers.publisher import Delivery

CORPUS = Path(__file__).resolve().parents[2] / "corpus" / "carriers"
NOW = 1_800_000_000.0


class Carrier:
    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers)
        self.asked: list[str] = []

    def track(self, number: str) -> Answer:
        self.asked.append(number)
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


class Publisher:
    def __init__(self) -> None:
        self.events: list[ShipmentMilestone] = []

    def publish(self, event: ShipmentMilestone, *, topic: Topic | None = None
                ) -> Future[Delivery]:
        self.events.append(event)
        done: Future[Delivery] = Future()
        done.set_result(Delivery("t", 0, len(self.events), None, event.event_id))
        return done

    def flush(self, timeout_s: float | None = None) -> None:
        pass


class Store:
    def __init__(self) -> None:
        self.commits: list[Any] = []

    def stored(self, connector: str) -> list[Any]:
        return []

    def commit(self, connector: str, offsets: Any) -> None:
        self.commits.append(list(offsets))


def _poller(apis: dict[str, Carrier], publisher: Publisher) -> TrackingPoller:
    return TrackingPoller(apis=apis, publisher=publisher, store=Store(),  # type: ignore[arg-type]
                          dead_letters=None, dead_letter_topic="dlq",  # type: ignore[arg-type]
                          discovery=None, mappings=load_mappings(), intervals=Intervals(),
                          gates={c: CarrierGate(min_gap_s=0) for c in ("dhl", "usps")},
                          clock=lambda: NOW)


def test_a_long_retry_after_holds_back_only_its_carrier_and_sets_the_wake_up() -> None:
    dhl = Carrier(Answer(429, b"{}", "3600"))
    usps = Carrier(Answer(200, (CORPUS / "karrio__usps__TrackingResponse.json").read_bytes()))
    publisher = Publisher()
    poller = _poller({"dhl": dhl, "usps": usps}, publisher)
    for carrier, number in (("dhl", "7777777770"), ("usps", "9400109104250532908587")):
        watch = discovered(carrier, number, NOW)
        poller.watches[watch.key] = watch
    summary = poller.round()
    assert summary.outcomes == {"rate-limited": 1, "events": 1}
    assert dhl.asked == ["7777777770"]  # asked once, not waited on for an hour
    assert len(publisher.events) == 12
    assert poller._next_wake() == NOW + 3600  # the USPS one is delivered: only DHL is left


def test_shipments_of_a_carrier_without_credentials_never_wake_the_loop() -> None:
    poller = _poller({}, Publisher())
    watch = discovered("ups", "1Z1", NOW)
    poller.watches[watch.key] = watch
    assert poller.round().requests == 0
    assert poller._next_wake() == NOW + 3600
