"""The carrier webhook service while the leader of its milestone topic is SIGKILLed and
restarted (three-node cluster, RF 3, min ISR 2). A carrier posts each webhook until it gets a
2xx, as carriers do; the service answers 200 only once Kafka acknowledged, 503 otherwise.

Nothing answered 200 is lost. At least once: a 503 whose write landed anyway is posted again
and published again under the same event id, so duplicates stay within the 503 answers
(the bound asserted); per tracking number the statuses come out in the order posted.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from datetime import UTC, datetime

import httpx
import pytest
from starlette.applications import Starlette

from backbone.clients import KafkaClients
from backbone.serde import AvroSerde
from connectors.carrier_webhooks import IntakePublisher, build_app
from connectors.carrier_webhooks.publishing import MILESTONE_TOPIC
from connectors.carriers import parse
from tests.integration.test_carrier_webhooks import settings, signed
from tests.reliability.checker import Sent, check, header, longest_stall, read_committed
from tests.reliability.cluster import Cluster

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

STATUSES = ("pre_transit", "in_transit", "out_for_delivery", "delivered")
SHIPMENTS = 150  # N = 600 webhooks


def webhook(tracking_code: str, step: int) -> tuple[str, bytes]:
    """One EasyPost tracker update: the shipment's ``step``-th status, an hour after the last."""
    body = json.dumps({
        "object": "Event", "description": "tracker.updated",
        "id": f"evt_{tracking_code}_{step}",
        "result": {"object": "Tracker", "tracking_code": tracking_code, "carrier": "UPS",
                   "tracking_details": [{
                       "status": STATUSES[step], "message": STATUSES[step],
                       "datetime": f"2026-05-06T{10 + step:02d}:00:00-05:00",
                       "tracking_location": {"city": "TULSA", "state": "OK"}}]},
    }).encode()
    return f"msg_{tracking_code}_{step}", body


def post(app: Starlette, webhook_id: str, body: bytes) -> int:
    async def send() -> int:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            answer = await client.post("/webhooks/easypost", content=body,
                                       headers=signed(webhook_id, body))
            return answer.status_code

    return asyncio.run(send())


def test_webhooks_under_a_leader_kill_lose_nothing(healthy: Cluster,
                                                  cluster_serde: AvroSerde) -> None:
    run = uuid.uuid4().hex[:6].upper()
    sink = IntakePublisher(KafkaClients(healthy.bootstrap), cluster_serde,
                           delivery_timeout_ms=5000)
    app = build_app(sink, settings())
    leader = healthy.leader_of(MILESTONE_TOPIC)
    sent: list[Sent] = []
    accepted_at: list[float] = []
    unavailable = 0
    fault: threading.Thread | None = None
    fault_at = 0.0

    def kill_and_restart() -> None:
        healthy.kill(leader)
        time.sleep(5)
        healthy.restart(leader)

    try:
        for step in range(len(STATUSES)):
            for shipment in range(SHIPMENTS):
                tracking_code = f"1Z{run}{shipment:05d}"
                webhook_id, body = webhook(tracking_code, step)
                # the event id the service derives (stable across re-parses and retries)
                [event] = parse("easypost", body, name=webhook_id,
                                recorded_at=datetime.now(UTC)).events
                if fault is None and len(sent) == SHIPMENTS * len(STATUSES) // 3:
                    fault_at = time.monotonic()
                    fault = threading.Thread(target=kill_and_restart, name="fault")
                    fault.start()
                deadline = time.monotonic() + 120
                while (status := post(app, webhook_id, body)) != 200:
                    assert status == 503, f"{webhook_id}: answered {status}"
                    assert time.monotonic() < deadline, f"{webhook_id}: 503 for 120 s"
                    unavailable += 1
                    time.sleep(0.5)  # the carrier's retry
                accepted_at.append(time.monotonic())
                sent.append(Sent(event.event_id, f"UPSN:{tracking_code}", step))
    finally:
        if fault is not None:
            fault.join()
        sink.close()
    wanted = {s.id for s in sent}
    ids = read_committed({"bootstrap.servers": healthy.bootstrap}, [MILESTONE_TOPIC],
                         header("event_id"), expect=len(sent))
    report = check("leader SIGKILL + restart", f"webhook service, N={len(sent)}", sent,
                   [i for i in ids if i in wanted],
                   recovery_s=longest_stall(accepted_at, since=fault_at))
    report.note = f"at least once: {unavailable} answers were 503 (the duplicate bound)"
    report.record()
    assert not report.lost, report.summary()
    assert report.duplicates <= unavailable, report.summary()
    assert report.reordered == 0, report.summary()
