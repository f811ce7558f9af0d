"""The webhook service against a broker that stops answering: 503, never accept-and-drop.

The shared test broker must not be paused, so this test starts a private local stack (its own
Kafka and registry on free ports), SIGSTOPs that Kafka, and SIGCONTs it again.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from confluent_kafka.admin import NewTopic

from backbone.kafka import admin_client
from backbone.registry import SchemaRegistry
from backbone.serde import AvroSerde
from backbone.settings import load_settings
from backbone.stack import Endpoints, LocalStack
from backbone.topics import topic
from connectors.carrier_webhooks import IntakePublisher, IntakeTopics, build_app
from connectors.carrier_webhooks.publishing import ARCHIVE_TOPIC, MILESTONE_TOPIC
from tests.integration.test_carrier_webhooks import read_all, settings, signed, tracker
from tests.stack import lib_dir

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def private_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Endpoints, int]]:
    state = tmp_path_factory.mktemp("paused-stack")
    stack = LocalStack(load_settings(state_dir=state, lib_dir=lib_dir(), kafka_port=0,
                                     controller_port=0, registry_port=0,
                                     registry_management_port=0))
    endpoints = stack.up()
    kafka_pid = json.loads((Path(state) / "run" / "stack.json").read_text())["kafka_pid"]
    try:
        yield endpoints, int(kafka_pid)
    finally:
        os.kill(int(kafka_pid), signal.SIGCONT)  # never leave a stopped process behind
        stack.down()


def _post(app: object, body: bytes, headers: dict[str, str]) -> httpx.Response:
    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.post("/webhooks/easypost", content=body, headers=headers)

    return asyncio.run(send())


def test_paused_broker_gives_503_then_the_retry_is_accepted(
        private_stack: tuple[Endpoints, int]) -> None:
    endpoints, kafka_pid = private_stack
    admin = admin_client(endpoints.bootstrap_servers)
    names = {ARCHIVE_TOPIC: "paused.archive", MILESTONE_TOPIC: "paused.milestones"}
    for future in admin.create_topics([NewTopic(n, 1, 1) for n in names.values()]).values():
        future.result(timeout=30)
    topics = IntakeTopics(archive=replace(topic(ARCHIVE_TOPIC), name=names[ARCHIVE_TOPIC]),
                          milestones=replace(topic(MILESTONE_TOPIC),
                                             name=names[MILESTONE_TOPIC]))
    with SchemaRegistry(endpoints.registry_url) as registry:
        sink = IntakePublisher(endpoints.bootstrap_servers, AvroSerde(registry),
                               delivery_timeout_ms=3000, topics=topics)
        try:
            app = build_app(sink, settings())
            warm = tracker("1ZPAUSE0001")
            assert _post(app, warm, signed("msg_warm", warm)).status_code == 200

            body = tracker("1ZPAUSE0002")
            os.kill(kafka_pid, signal.SIGSTOP)
            try:
                started = time.monotonic()
                paused = _post(app, body, signed("msg_paused", body))
                waited = time.monotonic() - started
            finally:
                os.kill(kafka_pid, signal.SIGCONT)
            assert paused.status_code == 503, paused.text
            assert int(paused.headers["retry-after"]) > 0
            assert waited < 15, "the service must answer within its delivery timeout"

            retried = None
            for _ in range(30):  # the sender retries; the broker needs a moment after SIGCONT
                retried = _post(app, body, signed("msg_paused", body))
                if retried.status_code == 200:
                    break
                time.sleep(1)
            assert retried is not None and retried.status_code == 200, retried and retried.text
        finally:
            sink.close()

    keys = [m.key() for m in read_all(endpoints.bootstrap_servers, names[MILESTONE_TOPIC])]
    # accepted means in Kafka; a produce that timed out while the broker was frozen may still
    # have been written, so a copy can exist, but only under the same key and event id
    assert keys.count(b"UPSN:1ZPAUSE0002") >= 1
    assert set(keys) == {b"UPSN:1ZPAUSE0001", b"UPSN:1ZPAUSE0002"}
