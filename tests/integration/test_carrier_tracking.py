"""The tracking poller on the real broker and registry, asking a local HTTP server that serves
the carriers' recorded responses (tests/corpus/carriers): new events once, repeats nothing,
429 and 5xx handled, an expired token refreshed, a malformed answer dead-lettered, progress
kept across a restart."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from pydantic import SecretStr

from backbone import headers
from backbone.clients import KafkaClients
from backbone.registry import SchemaRegistry
from backbone.serde import AvroSerde
from backbone.settings import Settings
from backbone.topics import Topic, topic
from connectors.carrier_tracking import CarrierGate, Intervals, TrackingPoller
from connectors.carrier_tracking.clients import apis_from_settings
from connectors.carrier_tracking.discovery import Discovery
from connectors.carriers import parse
from connectors.offsets import KafkaOffsetStore
from processors.shipment_status import load_mappings
from producers.publisher import EventPublisher
from tests.integration.conftest import consume

pytestmark = pytest.mark.integration
CORPUS = Path(__file__).resolve().parents[1] / "corpus" / "carriers"
DHL_BODY = (CORPUS / "karrio__dhl_universal__TrackingResponseJSON.json").read_bytes()
USPS_BODY = (CORPUS / "karrio__usps__TrackingResponse.json").read_bytes()
DHL_NUMBER = "7777777770"
USPS_NUMBER = "9400109104250532908587"
BACKBONE = str(Path(sys.executable).with_name("backbone"))

Reply = tuple[int, dict[str, str], bytes]


@dataclass
class CarrierServer:
    """Answers as UPS, FedEx, USPS and DHL would, from scripted replies per carrier."""

    script: dict[str, list[Reply]] = field(default_factory=dict)
    valid_tokens: set[str] = field(default_factory=set)
    token_requests: int = 0
    requests: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                if "token" in self.path:
                    server.token_requests += 1
                    token = f"tok-{server.token_requests}"
                    server.valid_tokens.add(token)
                    self._reply(200, {}, json.dumps({"access_token": token, "expires_in": 3600,
                                                     "token_type": "Bearer"}).encode())
                else:
                    self._track("fedex")

            def do_GET(self) -> None:
                carrier = ("ups" if "/api/track/" in self.path else
                           "usps" if "/tracking/v3/" in self.path else "dhl")
                self._track(carrier)

            def _track(self, carrier: str) -> None:
                server.requests.append(carrier)
                bearer = (self.headers.get("authorization") or "").removeprefix("Bearer ")
                if carrier != "dhl" and bearer not in server.valid_tokens:
                    self._reply(401, {}, b'{"error": "invalid_token"}')
                    return
                replies = server.script[carrier]
                status, extra, body = replies.pop(0) if len(replies) > 1 else replies[0]
                self._reply(status, extra, body)

            def _reply(self, status: int, extra: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for name, value in {"content-type": "application/json", **extra}.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_port}"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture
def carriers() -> Iterator[CarrierServer]:
    server = CarrierServer()
    yield server
    server.close()


@dataclass
class Topics:
    asn: str
    discovered: str
    status: str
    milestones: str
    dead_letters: str
    offsets: str


@pytest.fixture
def topics(topic_factory: Callable[..., str]) -> Topics:
    return Topics(topic_factory(), topic_factory(), topic_factory(), topic_factory(partitions=3),
                  topic_factory(), topic_factory(config={"cleanup.policy": "compact"}))


@pytest.fixture
def serde(registry_url: str) -> Iterator[AvroSerde]:
    with SchemaRegistry(registry_url) as registry:
        yield AvroSerde(registry)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 4, 12, tzinfo=UTC).timestamp()

    def __call__(self) -> float:
        return self.now


def _settings(server: CarrierServer) -> Settings:
    return Settings(tracking_dhl_api_key=SecretStr("dhl-key"), tracking_dhl_base_url=server.url,
                    tracking_usps_client_id="usps-id",
                    tracking_usps_client_secret=SecretStr("usps-secret"),
                    tracking_usps_base_url=server.url, tracking_fedex_client_id="fx-id",
                    tracking_fedex_client_secret=SecretStr("fx-secret"),
                    tracking_fedex_base_url=server.url)


def _named(catalog: str, name: str) -> Topic:
    return replace(topic(catalog), name=name)


OPEN: list[TrackingPoller] = []


@pytest.fixture(autouse=True)
def _close_pollers() -> Iterator[None]:
    yield
    while OPEN:
        discovery = OPEN.pop().discovery
        if discovery is not None:
            discovery.close()


def _poller(server: CarrierServer, topics: Topics, serde: AvroSerde, bootstrap: str,
            publisher: EventPublisher, clock: Clock) -> TrackingPoller:
    store = KafkaOffsetStore(bootstrap, topic=topics.offsets)
    store.load()
    mappings = load_mappings()
    watched = [_named("procurement.asn.v1", topics.asn),
               _named("logistics.shipment-milestone.raw.v1", topics.discovered),
               _named("logistics.shipment-status.v1", topics.status)]
    poller = TrackingPoller(
        apis=apis_from_settings(_settings(server)), publisher=publisher, store=store,
        dead_letters=Producer(KafkaClients(bootstrap).producer()),
        dead_letter_topic=topics.dead_letters,
        discovery=Discovery(bootstrap, serde, watched, mappings), mappings=mappings,
        intervals=Intervals(in_transit_s=600, near_delivery_s=60, pre_transit_s=900,
                            max_age_s=86_400, backoff_max_s=300),
        gates={c: CarrierGate(min_gap_s=0) for c in ("ups", "fedex", "usps", "dhl")},
        milestone_topic=_named("logistics.shipment-milestone.raw.v1", topics.milestones),
        clock=clock)
    OPEN.append(poller)
    return poller


def _announce(serde: AvroSerde, bootstrap: str, topics: Topics, carrier: str,
              body: bytes, number: str) -> None:
    """A shipment becomes known the way a webhook or an EDI 214 makes it known: a milestone."""
    first = parse(carrier, body, name="seed", recorded_at=datetime.now(UTC),
                  tracking_number=number).events[-1]
    with EventPublisher(bootstrap, serde) as publisher:
        publisher.publish(first, topic=_named("logistics.shipment-milestone.raw.v1",
                                              topics.discovered)).result(30)


def test_new_events_once_and_a_repeat_publishes_nothing_even_after_a_restart(
        carriers: CarrierServer, topics: Topics, serde: AvroSerde,
        bootstrap_servers: str) -> None:
    carriers.script = {"dhl": [(200, {}, DHL_BODY)]}
    _announce(serde, bootstrap_servers, topics, "dhl", DHL_BODY, DHL_NUMBER)
    clock = Clock()
    with EventPublisher(bootstrap_servers, serde) as publisher:
        first = _poller(carriers, topics, serde, bootstrap_servers, publisher, clock).round()
    assert (first.requests, first.published, first.outcomes) == (1, 1, {"events": 1})
    published = consume(bootstrap_servers, topics.milestones, expect=1, idle_s=2)
    assert [m.key() for m in published] == [b"DHL:7777777770"]

    clock.now += 2 * 900  # past the pre-transit interval; a new process, state from Kafka
    with EventPublisher(bootstrap_servers, serde) as publisher:
        restarted = _poller(carriers, topics, serde, bootstrap_servers, publisher, clock)
        again = restarted.round()
    assert (again.requests, again.published, again.outcomes) == (1, 0, {"no-news": 1})
    assert len(consume(bootstrap_servers, topics.milestones, idle_s=2)) == 1
    assert carriers.requests == ["dhl", "dhl"]  # discovery did not add the shipment twice


def test_a_terminal_answer_stops_polling(carriers: CarrierServer, topics: Topics,
                                         serde: AvroSerde, bootstrap_servers: str) -> None:
    carriers.script = {"usps": [(200, {}, USPS_BODY)]}
    _announce(serde, bootstrap_servers, topics, "usps", USPS_BODY, USPS_NUMBER)
    clock = Clock()
    with EventPublisher(bootstrap_servers, serde) as publisher:
        poller = _poller(carriers, topics, serde, bootstrap_servers, publisher, clock)
        summary = poller.round()
        assert summary.published == 12
        watch = poller.watches[f"usps:{USPS_NUMBER}"]
        assert (watch.milestone, watch.stopped) == ("DELIVERED", "DELIVERED")
        clock.now += 10 * 86_400
        assert poller.round().requests == 0
    assert carriers.token_requests == 1


def test_429_waits_for_retry_after_then_asks_again(carriers: CarrierServer, topics: Topics,
                                                   serde: AvroSerde,
                                                   bootstrap_servers: str) -> None:
    carriers.script = {"dhl": [(429, {"retry-after": "1"}, b'{"title": "Too Many Requests"}'),
                               (200, {}, DHL_BODY)]}
    _announce(serde, bootstrap_servers, topics, "dhl", DHL_BODY, DHL_NUMBER)
    with EventPublisher(bootstrap_servers, serde) as publisher:
        poller = _poller(carriers, topics, serde, bootstrap_servers, publisher, Clock())
        poller.clock = time.time  # the Retry-After wait is real
        summary = poller.round()
    assert summary.outcomes == {"rate-limited": 1, "events": 1}
    assert poller.metrics.registry.get_sample_value(
        "backbone_tracking_rate_limit_waits_total", {"carrier": "dhl"}) == 1
    assert poller.metrics.registry.get_sample_value(
        "backbone_tracking_requests_total", {"carrier": "dhl", "outcome": "rate-limited"}) == 1
    assert len(consume(bootstrap_servers, topics.milestones, expect=1, idle_s=2)) == 1


def test_5xx_backs_off_and_the_next_due_poll_succeeds(carriers: CarrierServer, topics: Topics,
                                                      serde: AvroSerde,
                                                      bootstrap_servers: str) -> None:
    carriers.script = {"dhl": [(503, {}, b"upstream down"), (200, {}, DHL_BODY)]}
    _announce(serde, bootstrap_servers, topics, "dhl", DHL_BODY, DHL_NUMBER)
    clock = Clock()
    with EventPublisher(bootstrap_servers, serde) as publisher:
        poller = _poller(carriers, topics, serde, bootstrap_servers, publisher, clock)
        assert poller.round().outcomes == {"server-error": 1}
        assert poller.round().requests == 0  # backing off
        clock.now += 31
        assert poller.round().outcomes == {"events": 1}
    assert consume(bootstrap_servers, topics.dead_letters, idle_s=1) == []


def test_an_expired_token_is_refreshed(carriers: CarrierServer, topics: Topics,
                                       serde: AvroSerde, bootstrap_servers: str) -> None:
    carriers.script = {"usps": [(200, {}, b'{"trackingNumber": "' + USPS_NUMBER.encode()
                                 + b'", "trackingEvents": []}')]}
    _announce(serde, bootstrap_servers, topics, "usps", USPS_BODY, USPS_NUMBER)
    clock = Clock()
    with EventPublisher(bootstrap_servers, serde) as publisher:
        poller = _poller(carriers, topics, serde, bootstrap_servers, publisher, clock)
        assert poller.round().outcomes == {"no-news": 1}
        carriers.valid_tokens.clear()  # the carrier expired it before we thought it would
        clock.now += 2 * 900
        assert poller.round().outcomes == {"no-news": 1}
    assert carriers.token_requests == 2
    assert carriers.requests == ["usps", "usps", "usps"]  # the 401, then the retry


def test_a_malformed_answer_becomes_a_dead_letter_naming_carrier_and_number(
        carriers: CarrierServer, topics: Topics, serde: AvroSerde,
        bootstrap_servers: str) -> None:
    carriers.script = {"fedex": [(200, {"content-type": "text/html"},
                                  b"<html><body>Service Unavailable</body></html>")]}
    body = (CORPUS / "karrio__fedex__InconsistentDateTimeResponse.json").read_bytes()
    _announce(serde, bootstrap_servers, topics, "fedex", body, "738488882438")
    with EventPublisher(bootstrap_servers, serde) as publisher:
        poller = _poller(carriers, topics, serde, bootstrap_servers, publisher, Clock())
        summary = poller.round()
    assert (summary.outcomes, summary.dead_letters) == ({"malformed": 1}, 1)
    (letter,) = consume(bootstrap_servers, topics.dead_letters, expect=1, idle_s=2)
    found = headers.as_dict(letter.headers())
    assert (found["backbone.dlq.source.carrier"], found["backbone.dlq.source.tracking_number"]) == (
        "fedex", "738488882438")
    assert found["backbone.dlq.category"] == "DESERIALIZATION"
    assert "fedex tracking 738488882438 (HTTP 200)" in found["backbone.dlq.exception.message"]
    assert letter.key() == b"fedex:738488882438"
    assert letter.value() == b"<html><body>Service Unavailable</body></html>"
    assert consume(bootstrap_servers, topics.milestones, idle_s=1) == []


def test_the_command_polls_once(carriers: CarrierServer, topics: Topics, serde: AvroSerde,
                                bootstrap_servers: str, registry_url: str) -> None:
    carriers.script = {"dhl": [(200, {}, DHL_BODY)]}
    _announce(serde, bootstrap_servers, topics, "dhl", DHL_BODY, DHL_NUMBER)
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers,
           "SCHEMA_REGISTRY_URL": registry_url, "BACKBONE_TRACKING_DHL_API_KEY": "dhl-key",
           "BACKBONE_TRACKING_DHL_BASE_URL": carriers.url, "BACKBONE_CONFIG": "/nonexistent"}
    result = subprocess.run(
        [BACKBONE, "connect", "carrier-tracking", "--once",
         "--discovery-topics", f"{topics.asn},{topics.discovered},{topics.status}",
         "--milestone-topic", topics.milestones, "--offsets-topic", topics.offsets,
         "--dead-letter-topic", topics.dead_letters],
        capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    assert "carrier-tracking: 1 requests (1 events), 1 events published, 0 dead letters" in (
        result.stderr)
    assert "dhl-key" not in result.stderr
