"""The carrier webhook service on the real broker and registry, through fresh topics.

Covers the issue's cases except pausing the broker: the broker is shared by every test, so
"Kafka unavailable" points the service's producer at a closed loopback port instead. The flood
here is 300 requests/s for 6 s; the 30 s version is bench/webhooks.py.
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import httpx
import pytest
import uvicorn
from confluent_kafka import Consumer, KafkaException, Message, TopicPartition
from pydantic import SecretStr
from starlette.applications import Starlette

from backbone.kafka import consumer_config
from backbone.registry import SchemaRegistry
from backbone.serde import AvroSerde
from backbone.settings import Settings
from backbone.topics import topic
from connectors.carrier_webhooks import IntakePublisher, IntakeTopics, WebhookSecret, build_app
from connectors.carrier_webhooks.publishing import (
    ARCHIVE_TOPIC,
    DEAD_LETTER_TOPIC,
    MILESTONE_TOPIC,
)
from tests.conftest import TopicFactory

pytestmark = pytest.mark.integration

SECRET = "whsec_" + base64.b64encode(b"integration-test-key-32-bytes!!!").decode()
SIGNER = WebhookSecret.parse(SECRET)


def tracker(tracking_code: str, status: str = "in_transit") -> bytes:
    return json.dumps({
        "object": "Event", "description": "tracker.updated", "id": f"evt_{tracking_code}",
        "result": {"object": "Tracker", "tracking_code": tracking_code, "carrier": "UPS",
                   "tracking_details": [{"status": status, "message": "Departed facility",
                                         "datetime": "2024-05-06T10:00:00-05:00",
                                         "tracking_location": {"city": "TULSA", "state": "OK"}}]},
    }).encode()


def signed(webhook_id: str, body: bytes, *, at: float | None = None,
           content_type: str = "application/json") -> dict[str, str]:
    timestamp = int(time.time() if at is None else at)
    return {"webhook-id": webhook_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": SIGNER.sign(webhook_id, timestamp, body),
            "content-type": content_type}


@dataclass
class Service:
    app: Starlette
    sink: IntakePublisher
    topics: IntakeTopics
    bootstrap: str

    def post(self, source: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                return await client.post(f"/webhooks/{source}", content=body, headers=headers)

        return asyncio.run(send())

    def get(self, path: str) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                return await client.get(path)

        return asyncio.run(send())

    def milestones(self) -> list[Message]:
        return read_all(self.bootstrap, self.topics.milestones.name)

    def archived(self) -> list[Message]:
        return read_all(self.bootstrap, self.topics.archive.name)


def read_all(bootstrap: str, name: str) -> list[Message]:
    """Every record of ``name`` up to its high watermarks, read after the 2xx answers: the
    service answers only once Kafka acknowledged (acks=all), so nothing is still on its way."""
    consumer = Consumer(consumer_config(bootstrap, f"test-{uuid.uuid4().hex[:8]}"))
    try:
        partitions = consumer.list_topics(name, timeout=10).topics[name].partitions
        ends = {p: _high_watermark(consumer, TopicPartition(name, p)) for p in partitions}
        consumer.assign([TopicPartition(name, p, 0) for p in partitions])
        records: list[Message] = []
        positions = dict.fromkeys(partitions, 0)
        deadline = time.monotonic() + 30
        while any(positions[p] < ends[p] for p in partitions):
            assert time.monotonic() < deadline, f"{name}: could not read up to {ends}"
            for message in consumer.consume(1000, 0.5):
                if message.error() is None:
                    records.append(message)
                    positions[message.partition()] = message.offset() + 1
        return records
    finally:
        consumer.close()


def settings(**overrides: Any) -> Settings:
    return Settings(webhook_secret=SecretStr(SECRET), **{"webhook_max_body_bytes": 8192,
                                                         **overrides})


def _high_watermark(consumer: Consumer, partition: TopicPartition) -> int:
    deadline = time.monotonic() + 15
    while True:
        try:
            return int(consumer.get_watermark_offsets(partition, timeout=5)[1])
        except KafkaException:
            # A topic created a moment ago may not have elected its leaders yet.
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture
def serde(registry_url: str) -> Iterator[AvroSerde]:
    with SchemaRegistry(registry_url) as registry:
        yield AvroSerde(registry)


@pytest.fixture
def service(bootstrap_servers: str, serde: AvroSerde,
            topic_factory: TopicFactory) -> Iterator[Service]:
    topics = IntakeTopics(archive=replace(topic(ARCHIVE_TOPIC), name=topic_factory(3)),
                          milestones=replace(topic(MILESTONE_TOPIC), name=topic_factory(3)),
                          dead_letters=replace(topic(DEAD_LETTER_TOPIC), name=topic_factory(1)))
    sink = IntakePublisher(bootstrap_servers, serde, delivery_timeout_ms=5000, topics=topics)
    try:
        yield Service(build_app(sink, settings()), sink, topics, bootstrap_servers)
    finally:
        sink.close()


def test_valid_webhook_is_archived_and_published(service: Service, serde: AvroSerde) -> None:
    body = tracker("1ZVALID0001")
    answer = service.post("easypost", body, signed("msg_valid", body))
    assert answer.status_code == 200, answer.text
    assert answer.json()["events"] == 1
    [event] = service.milestones()
    assert event.key() == b"UPSN:1ZVALID0001"
    decoded = serde.deserialize(service.topics.milestones, event.value())
    assert decoded.raw_status.code == "in_transit"  # type: ignore[attr-defined]
    [raw] = service.archived()
    assert (raw.key(), raw.value()) == (b"msg_valid", body)
    headers = dict(raw.headers() or [])
    assert (headers["source"], headers["webhook-id"], headers["content-type"]) == (
        b"easypost", b"msg_valid", b"application/json")
    assert headers["received-at"].startswith(b"20")
    assert answer.json()["archived"]["offset"] == raw.offset()


def test_bad_signature_and_stale_are_401_and_publish_nothing(service: Service) -> None:
    body = tracker("1ZBAD0001")
    forged = {**signed("msg_forged", body), "webhook-signature":
              WebhookSecret(b"another key").sign("msg_forged", int(time.time()), body)}
    stale = signed("msg_stale", body, at=time.time() - 301)
    assert service.post("easypost", body, forged).json()["reason"] == "no-signature-matched"
    answer = service.post("easypost", body, stale)
    assert (answer.status_code, answer.json()["reason"]) == (401, "stale-timestamp")
    assert service.post("easypost", body, forged).status_code == 401
    assert service.milestones() == [] and service.archived() == []


def test_replayed_webhook_id_is_a_duplicate(service: Service) -> None:
    body = tracker("1ZREPLAY01")
    first = service.post("easypost", body, signed("msg_replay", body))
    # A genuine retry is re-signed with a fresh timestamp; it must still publish nothing.
    again = service.post("easypost", body, signed("msg_replay", body, at=time.time() + 1))
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json() == {"status": "duplicate", "webhook_id": "msg_replay"}
    assert len(service.milestones()) == 1
    assert len(service.archived()) == 1


def test_oversized_and_wrong_content_type_are_refused_unread(service: Service) -> None:
    big = b'{"padding": "' + b"x" * 9000 + b'"}'
    too_large = service.post("easypost", big, signed("msg_big", big))
    assert too_large.status_code == 413 and "8192-byte limit" in too_large.json()["error"]
    body = tracker("1ZTYPE0001")
    wrong = service.post("easypost", body, signed("msg_type", body, content_type="text/plain"))
    assert wrong.status_code == 415
    assert service.milestones() == [] and service.archived() == []


def test_malformed_json_is_400_and_archived_for_reparsing(service: Service) -> None:
    body = b'{"object": "Event", "result": {"tracking_code": '
    answer = service.post("easypost", body, signed("msg_broken", body))
    assert answer.status_code == 400
    assert "not JSON" in answer.json()["error"] and "re-parsed" in answer.json()["note"]
    [raw] = service.archived()
    assert raw.value() == body
    assert service.milestones() == []
    # Not remembered as seen: the sender's retry is parsed again (and refused again).
    assert service.post("easypost", body, signed("msg_broken", body)).status_code == 400


def test_health_and_metrics(service: Service) -> None:
    assert service.get("/healthz").json() == {"status": "ok"}
    body = tracker("1ZMETRICS1")
    service.post("easypost", body, signed("msg_metrics", body))
    metrics = service.get("/metrics").text
    assert 'backbone_webhook_requests_total{outcome="accepted",source="easypost"} 1.0' in metrics
    assert 'backbone_webhook_events_published_total{source="easypost"} 1.0' in metrics


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_unreachable_kafka_is_503_with_retry_after(serde: AvroSerde) -> None:
    sink = IntakePublisher(f"127.0.0.1:{closed_port()}", serde, delivery_timeout_ms=1500)
    try:
        service = Service(build_app(sink, settings()), sink, sink.topics, "")
        body = tracker("1ZDOWN0001")
        started = time.monotonic()
        answer = service.post("easypost", body, signed("msg_down", body))
        assert answer.status_code == 503 and answer.headers["retry-after"] == "5"
        assert "did not acknowledge" in answer.json()["error"]
        assert time.monotonic() - started < 4
        assert service.get("/healthz").status_code == 503
    finally:
        sink.close()


@pytest.fixture
def server(service: Service) -> Iterator[str]:
    """The service on uvicorn, on a free loopback port, in a thread."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(service.app, host="127.0.0.1", port=port, log_level="warning",
                            access_log=False)
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not running.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        running.should_exit = True
        thread.join(timeout=10)


def test_through_uvicorn(server: str, service: Service) -> None:
    body = tracker("1ZHTTP0001")
    with httpx.Client(base_url=server) as client:
        answer = client.post("/webhooks/easypost", content=body,
                             headers=signed("msg_http", body))
        assert answer.status_code == 200, answer.text
        big = b"<x>" + b"y" * 20_000 + b"</x>"
        assert client.post("/webhooks/ups", content=big,
                           headers=signed("msg_big", big, content_type="application/xml")
                           ).status_code == 413
        assert client.get("/healthz").status_code == 200
    assert [m.key() for m in service.milestones()] == [b"UPSN:1ZHTTP0001"]


@pytest.mark.slow
def test_flood_every_accepted_webhook_once_every_bad_one_refused(server: str,
                                                                 service: Service) -> None:
    rate, seconds = 300, 6
    requests = [_flood_request(i) for i in range(rate * seconds)]
    answers = asyncio.run(_offer(server, requests, rate))
    good = [r for r in requests if r.good]
    bad = [r for r in requests if not r.good]
    assert len(bad) == len(requests) // 5
    statuses = {r.webhook_id: answers[r.webhook_id] for r in requests}
    assert {statuses[r.webhook_id] for r in bad} <= {401, 413, 415}
    assert all(statuses[r.webhook_id] == 200 for r in good), \
        sorted({statuses[r.webhook_id] for r in good})
    keys = [m.key() for m in service.milestones()]
    assert len(keys) == len(set(keys)) == len(good)
    assert set(keys) == {f"UPSN:{r.tracking}".encode() for r in good}
    archived = [m.key() for m in service.archived()]
    assert sorted(archived) == sorted(r.webhook_id.encode() for r in good)


@dataclass(frozen=True)
class FloodRequest:
    webhook_id: str
    tracking: str
    body: bytes
    headers: dict[str, str]
    good: bool


def _flood_request(i: int) -> FloodRequest:
    webhook_id = f"msg_flood_{uuid.uuid4().hex[:8]}_{i}"
    tracking = f"1ZFLOOD{i:06d}"
    body = tracker(tracking)
    headers = signed(webhook_id, body)
    good = i % 10 not in (3, 7)  # 20% bad, spread evenly over the run
    flaw = (i // 10) % 4
    if good:
        pass
    elif flaw == 0:  # signed with someone else's key
        headers["webhook-signature"] = WebhookSecret(b"x" * 32).sign(
            webhook_id, int(headers["webhook-timestamp"]), body)
    elif flaw == 1:  # a capture replayed after the window
        headers = signed(webhook_id, body, at=time.time() - 400)
    elif flaw == 2:  # over the body limit
        body = body + b" " * 9000
        headers = signed(webhook_id, body)
    else:  # not JSON by its content type
        headers = signed(webhook_id, body, content_type="text/plain")
    return FloodRequest(webhook_id, tracking, body, headers, good)


async def _offer(base_url: str, requests: list[FloodRequest], rate: int) -> dict[str, int]:
    """Send at a fixed rate (open loop: a slow answer does not slow the offer)."""
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    answers: dict[str, int] = {}
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30) as client:
        async def send(request: FloodRequest) -> None:
            response = await client.post("/webhooks/easypost", content=request.body,
                                         headers=request.headers)
            answers[request.webhook_id] = response.status_code

        started = time.monotonic()
        tasks = []
        for n, request in enumerate(requests):
            delay = started + n / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(send(request)))
        await asyncio.gather(*tasks)
    return answers
