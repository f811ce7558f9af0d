"""The webhook app's request steps with an in-memory sink (Kafka itself: tests/integration)."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from concurrent.futures import Future
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from starlette.applications import Starlette

from backbone.errors import PublishError
from backbone.events import ShipmentMilestone
from backbone.settings import Settings
from connectors.carrier_webhooks import Archived, Clock, RawWebhook, WebhookSecret, build_app
from connectors.carrier_webhooks.app import SeenWebhooks, TokenBucket
from producers.publisher import Delivery

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()
NOW = 1_715_000_000.0
BODY = json.dumps({"object": "Tracker", "tracking_code": "1Z999", "carrier": "UPS",
                   "tracking_details": [{"status": "in_transit", "message": "Departed",
                                         "datetime": "2024-05-06T10:00:00Z"}]}).encode()


class MemorySink:
    """Acknowledges at once, or fails every delivery when ``down``."""

    def __init__(self) -> None:
        self.archived: list[RawWebhook] = []
        self.published: list[ShipmentMilestone] = []
        self.dead_letters: list[tuple[RawWebhook, BaseException, Archived]] = []
        self.down = False

    def archive(self, raw: RawWebhook) -> Future[Archived]:
        future: Future[Archived] = Future()
        if self.down:
            future.set_exception(PublishError("broker down"))
        else:
            self.archived.append(raw)
            future.set_result(Archived("archive", 0, len(self.archived) - 1))
        return future

    def publish(self, event: ShipmentMilestone) -> Future[Delivery]:
        self.published.append(event)
        future: Future[Delivery] = Future()
        future.set_result(Delivery("milestones", 0, len(self.published) - 1, None,
                                   event.event_id))
        return future

    def dead_letter(self, raw: RawWebhook, error: BaseException,
                    archived: Archived) -> Future[None]:
        self.dead_letters.append((raw, error, archived))
        future: Future[None] = Future()
        future.set_result(None)
        return future

    def reachable(self, timeout_s: float = 1.0) -> str | None:
        return "broker down" if self.down else None


@pytest.fixture
def sink() -> MemorySink:
    return MemorySink()


class Client:
    """Requests to the app in process (httpx's ASGI transport; no server, no lifespan)."""

    def __init__(self, app: Starlette) -> None:
        self.app = app

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self._send("POST", path, **kwargs)

    def get(self, path: str) -> httpx.Response:
        return self._send("GET", path)

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                return await client.request(method, path, **kwargs)

        return asyncio.run(send())


@pytest.fixture
def client(sink: MemorySink) -> Client:
    settings = Settings(webhook_secret=SecretStr(SECRET), webhook_max_body_bytes=4096,
                        webhook_rate_per_s=0)
    return Client(build_app(sink, settings, clock=Clock(wall=lambda: NOW)))


def _signed(webhook_id: str, body: bytes = BODY) -> dict[str, str]:
    signature = WebhookSecret.parse(SECRET).sign(webhook_id, int(NOW), body)
    return {"webhook-id": webhook_id, "webhook-timestamp": str(int(NOW)),
            "webhook-signature": signature, "content-type": "application/json"}


def test_accepted_then_duplicate(client: Client, sink: MemorySink) -> None:
    first = client.post("/webhooks/easypost", content=BODY, headers=_signed("msg_1"))
    assert first.status_code == 200, first.text
    assert first.json()["events"] == 1
    again = client.post("/webhooks/easypost", content=BODY, headers=_signed("msg_1"))
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    assert (len(sink.archived), len(sink.published)) == (1, 1)


def test_unknown_source_names_the_known_ones(client: Client) -> None:
    answer = client.post("/webhooks/dhl", content=BODY, headers=_signed("msg_1"))
    assert answer.status_code == 404
    assert "aftership, easypost, fedex, shipengine, shippo, ups, usps" in answer.json()["error"]


def test_wrong_content_type_is_415(client: Client, sink: MemorySink) -> None:
    headers = {**_signed("msg_1"), "content-type": "text/plain"}
    answer = client.post("/webhooks/easypost", content=BODY, headers=headers)
    assert answer.status_code == 415 and "application/json" in answer.json()["error"]
    xml = client.post("/webhooks/ups", content=BODY, headers={**_signed("msg_2"),
                                                              "content-type": "text/csv"})
    assert xml.status_code == 415 and "application/json or application/xml" in xml.json()["error"]
    json_to_xml_only = client.post("/webhooks/easypost", content=BODY,
                                   headers={**_signed("msg_3"), "content-type": "text/xml"})
    assert json_to_xml_only.status_code == 415
    assert sink.archived == []


def test_body_over_the_limit_without_content_length_is_413(client: Client,
                                                            sink: MemorySink) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(10):
            yield b" " * 1000

    answer = client.post("/webhooks/easypost", content=chunks(), headers=_signed("msg_1"))
    assert answer.status_code == 413 and "4096-byte limit" in answer.json()["error"]
    assert sink.archived == []


def test_kafka_down_is_503_and_the_id_stays_unseen(client: Client, sink: MemorySink) -> None:
    sink.down = True
    answer = client.post("/webhooks/easypost", content=BODY, headers=_signed("msg_1"))
    assert answer.status_code == 503 and answer.headers["retry-after"] == "5"
    assert client.get("/healthz").status_code == 503
    sink.down = False
    retried = client.post("/webhooks/easypost", content=BODY, headers=_signed("msg_1"))
    assert (retried.status_code, retried.json()["status"]) == (200, "accepted")


def test_payload_without_usable_events_is_400_after_archiving(client: Client,
                                                              sink: MemorySink) -> None:
    body = json.dumps({"object": "Tracker", "carrier": "UPS", "tracking_details": []}).encode()
    answer = client.post("/webhooks/easypost", content=body, headers=_signed("msg_1", body))
    assert answer.status_code == 400
    assert "no tracking_code" in answer.json()["error"]
    assert answer.json()["archived"] == {"topic": "archive", "partition": 0, "offset": 0}
    assert [raw.body for raw in sink.archived] == [body] and sink.published == []
    [(raw, error, archived)] = sink.dead_letters
    record = raw.dead_letter(error, archived)
    assert (raw.body, record.stage, record.owner, record.category) == (
        body, "webhook", "carrier-webhooks", "UNEXPECTED")
    assert record.location == "webhook_source=easypost webhook_id=msg_1 archive=archive:0:0"


def test_a_dead_letter_kafka_does_not_take_is_503(client: Client, sink: MemorySink) -> None:
    def refuse(raw: RawWebhook, error: BaseException, archived: Archived) -> Future[None]:
        future: Future[None] = Future()
        future.set_exception(PublishError("dead-letter topic unavailable"))
        return future

    sink.dead_letter = refuse  # type: ignore[method-assign]
    body = b'{"object": "Tracker"'
    answer = client.post("/webhooks/easypost", content=body, headers=_signed("msg_2", body))
    assert answer.status_code == 503


def test_unknown_status_code_is_kept_raw(client: Client, sink: MemorySink) -> None:
    body = BODY.replace(b"in_transit", b"teleported")
    answer = client.post("/webhooks/easypost", content=body, headers=_signed("msg_1", body))
    assert answer.status_code == 200
    assert [e.raw_status.code for e in sink.published] == ["teleported"]


def test_metrics_count_outcomes(client: Client) -> None:
    client.post("/webhooks/easypost", content=BODY, headers=_signed("msg_1"))
    client.post("/webhooks/easypost", content=BODY, headers={**_signed("msg_2"),
                                                             "webhook-signature": "v1,AAAA"})
    text = client.get("/metrics").text
    assert ('backbone_webhook_requests_total{outcome="accepted",source="easypost"} 1.0'
            in text)
    assert ('backbone_webhook_requests_total{outcome="unauthorized",source="easypost"} 1.0'
            in text)
    assert 'backbone_webhook_signature_refusals_total{reason="no-signature-matched"} 1.0' in text


def test_token_bucket_refuses_beyond_the_rate() -> None:
    now = [0.0]
    bucket = TokenBucket(2.0, lambda: now[0])
    assert [bucket.take() for _ in range(3)] == [0.0, 0.0, 0.5]
    now[0] = 0.5
    assert bucket.take() == 0.0
    assert TokenBucket(0, lambda: 0.0).take() == 0.0


def test_seen_webhooks_forget_the_least_recent_and_never_a_failure() -> None:
    seen = SeenWebhooks(size=2)
    for webhook_id in ("a", "b"):
        assert seen.claim(webhook_id) == "new"
        seen.settle(webhook_id, accepted=True)
    assert seen.claim("a") == "duplicate"  # a is now the most recent
    assert seen.claim("c") == "new"
    assert seen.claim("c") == "in-flight"
    seen.settle("c", accepted=True)
    assert seen.claim("b") == "new"  # evicted
    seen.settle("b", accepted=False)
    assert seen.claim("b") == "new"  # a failure is not remembered


def test_rate_limit_answers_429_with_retry_after(sink: MemorySink) -> None:
    settings = Settings(webhook_secret=SecretStr(SECRET), webhook_rate_per_s=1)
    frozen = Clock(wall=lambda: NOW, monotonic=lambda: 100.0)
    client = Client(build_app(sink, settings, clock=frozen))
    first = client.post("/webhooks/easypost", content=BODY, headers=_signed("msg_1"))
    second = client.post("/webhooks/easypost", content=BODY, headers=_signed("msg_2"))
    assert (first.status_code, second.status_code) == (200, 429)
    assert second.headers["retry-after"] == "1"
