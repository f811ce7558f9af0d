"""One dead letter from every stage, through the real writers to the real broker, read back by
`backbone dlq list | show | stats` with its stage, owner, failure time and original place.

Stages and writers: connectors (the WMS feed and the ERP outbox through ``SourceRunner``, the
EDI inbox through its own ``DeadLetters``), a processor (the shipment_status engine), the
webhook service (``IntakePublisher`` behind the Starlette app) and the Iceberg sink (`backbone
sink iceberg --once`). Each writes to a fresh topic.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import sqlite3
import time
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka.admin import AdminClient
from pydantic import SecretStr
from typer.testing import CliRunner

from backbone.events import Event
from backbone.registry import SchemaRegistry
from backbone.samples import sample_shipment_milestone
from backbone.serde import AvroSerde
from backbone.settings import Settings
from backbone.topics import Topic, topic
from connectors.carrier_webhooks import IntakePublisher, IntakeTopics, WebhookSecret, build_app
from connectors.edi_x12.ingest import DeadLetters, EdiInbox
from connectors.erp_outbox import ErpOutboxConnector
from connectors.erp_outbox.database import SCHEMA_DIR, execute_script
from connectors.wms_feed.connector import WmsFeedConnector
from processors.dlq.cli import app as dlq
from processors.shipment_status import processor as shipment_status
from producers import EventPublisher
from producers.publisher import Delivery
from tests.conftest import TopicFactory
from tests.integration.conftest import run_connector_once
from tests.integration.test_edi_ingest import with_control_number
from tests.reliability import iceberg_harness as iceberg
from tests.reliability.processor_harness import (
    fresh_topics,
    options,
    produce_events,
    run_until_idle,
)
from tests.unit.edi_x12.conftest import CORPUS_DIR

pytestmark = pytest.mark.integration

SECRET = "whsec_" + base64.b64encode(b"every-stage-test-key-32-bytes!!!").decode()
EDI_FILE = "x12-types__test_214__parse_214_2.edi"  # one set of two has a bad SE02
STATUS = "logistics.shipment-status.v1"
CSV = ("record_type,record_id,occurred_at,site,sku,qty,uom\n"
       "COUNT,CNT-1,2026-03-02T06:00:00Z,DC-ATL-01,SKU-1,twelve,EA\n")


class RoutedPublisher(EventPublisher):
    """Publishes every event to one fresh topic (the EDI inbox has no routes of its own)."""

    def __init__(self, *args: Any, route: Topic, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.route = route

    def publish(self, event: Event, *, topic: Topic | None = None,
                traceparent: str | None = None) -> Future[Delivery]:
        return super().publish(event, topic=self.route, traceparent=traceparent)


@dataclass
class Written:
    """The dead-letter topic each stage wrote to."""

    wms: str
    erp: str
    edi: str
    processor: str
    webhook: str
    sink: str = ""

    def all(self) -> list[str]:
        return [self.wms, self.erp, self.edi, self.processor, self.webhook, self.sink]


@pytest.fixture
def serde(registry_url: str) -> Iterator[AvroSerde]:
    with SchemaRegistry(registry_url) as registry:
        yield AvroSerde(registry)


def _webhook(bootstrap: str, serde: AvroSerde, dead_letters: str,
             topic_factory: TopicFactory) -> None:
    topics = IntakeTopics(archive=replace(topic("logistics.carrier-webhook.raw.v1"),
                                          name=topic_factory(1)),
                          milestones=replace(topic("logistics.shipment-milestone.raw.v1"),
                                             name=topic_factory(1)),
                          dead_letters=replace(topic("carrier-webhooks.dlq.v1"),
                                               name=dead_letters))
    sink = IntakePublisher(bootstrap, serde, delivery_timeout_ms=5000, topics=topics)
    body = b'{"object": "Event", "result": {"tracking_code": '
    stamp = int(time.time())
    signature = WebhookSecret.parse(SECRET).sign("msg_every_stage", stamp, body)
    headers = {"webhook-id": "msg_every_stage", "webhook-timestamp": str(stamp),
               "webhook-signature": signature, "content-type": "application/json"}
    try:
        app = build_app(sink, Settings(webhook_secret=SecretStr(SECRET)))

        async def post() -> httpx.Response:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                return await client.post("/webhooks/easypost", content=body, headers=headers)

        assert asyncio.run(post()).status_code == 400
    finally:
        sink.close()


@pytest.fixture
def written(bootstrap_servers: str, registry_url: str, serde: AvroSerde, admin: AdminClient,
            topic_factory: TopicFactory, tmp_path: Path) -> Written:
    out = Written(wms=topic_factory(1), erp=topic_factory(1), edi=topic_factory(1),
                  processor="", webhook="")
    # connector: a WMS feed row that does not map
    inbox = tmp_path / "wms"
    inbox.mkdir()
    (inbox / "counts.csv").write_text(CSV)
    run_connector_once(WmsFeedConnector(inbox, dead_letter_topic=out.wms), bootstrap_servers,
                   serde, topic_factory)
    # connector: an ERP outbox row of an aggregate the relay does not know
    database = f"sqlite:///{tmp_path / 'erp.db'}"
    execute_script(database, SCHEMA_DIR / "schema.sqlite.sql")
    with sqlite3.connect(tmp_path / "erp.db") as connection:
        connection.execute("INSERT INTO outbox (id, aggregatetype, aggregateid, type, payload) "
                           "VALUES ('row-1', 'Invoice', 'INV-1', 'InvoiceCreated', '{}')")
    run_connector_once(ErpOutboxConnector(database, dead_letter_topic=out.erp), bootstrap_servers,
                   serde, topic_factory)
    # connector: an X12 transaction set the envelope check rejects
    edi = tmp_path / "edi" / "inbox"
    edi.mkdir(parents=True)
    data = (CORPUS_DIR / EDI_FILE).read_bytes()
    (edi / EDI_FILE).write_bytes(with_control_number(data, f"{random.randrange(10**8, 10**9)}"))
    route = replace(topic("logistics.shipment-milestone.raw.v1"), name=topic_factory(1))
    with RoutedPublisher(bootstrap_servers, serde, route=route) as publisher:
        (outcome,) = EdiInbox(edi, publisher, DeadLetters(bootstrap_servers, out.edi),
                              log=lambda _: None).run_once()
    assert outcome.dead_letters == 1
    # processor: a milestone with a carrier code no mapping knows
    topics = fresh_topics(admin, shipment_status.SPEC)
    out.processor = topics.name(shipment_status.SPEC.dlq_topic)
    first = sample_shipment_milestone(1)
    unknown = first.model_copy(update={"raw_status": first.raw_status.model_copy(
        update={"code": "ZZ-EVERY-STAGE"})})
    produce_events(bootstrap_servers, serde, topics, "logistics.shipment-milestone.raw.v1",
                   [unknown])
    run_until_idle(shipment_status.logic(shipment_status.current_mappings()), serde,
                   options(bootstrap_servers, topics, tmp_path / "state"))
    # webhook: a body no parser reads
    out.webhook = topic_factory(1)
    _webhook(bootstrap_servers, serde, out.webhook, topic_factory)
    # sink: a record that is no Avro event cannot become a table row
    prefix = iceberg.fresh_prefix()
    iceberg.fresh_topics(admin, prefix, [STATUS], partitions=1)
    iceberg.produce_raw(bootstrap_servers, f"{prefix}.{STATUS}", b"UPS:1", b"not avro")
    env = iceberg.sink_env(bootstrap_servers, registry_url, tmp_path / "iceberg", prefix)
    run = iceberg.backbone(env, "sink", "iceberg", "--topics", STATUS, "--once")
    assert "1 dead letters" in run.stderr, run.stderr
    out.sink = f"{prefix}.{iceberg.DLQ}"
    return out


def _cli(*args: str) -> str:
    result = CliRunner().invoke(dlq, list(args))
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result.stdout


def test_every_stage_shows_owner_stage_time_and_place(
        written: Written, bootstrap_servers: str, registry_url: str, topic_factory: TopicFactory,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", bootstrap_servers)
    monkeypatch.setenv("SCHEMA_REGISTRY_URL", registry_url)
    audit = topic_factory(1)
    topics = [arg for name in written.all() for arg in ("--topic", name)]
    rows = [json.loads(line) for line in _cli("list", *topics, "--audit-topic", audit,
                                                 "--json").splitlines()]
    by_topic = {row["topic"]: row for row in rows}
    assert len(rows) == 6 and set(by_topic) == set(written.all())
    expected = {
        written.wms: ("connector", "wms-feed", "SCHEMA_VALIDATION", "file=counts.csv row=2"),
        written.erp: ("connector", "erp-outbox", "UNKNOWN_CODE", "outbox_id=row-1 outbox_seq=1"),
        written.edi: ("connector", "edi-x12", "SCHEMA_VALIDATION", f"file={EDI_FILE} segment="),
        written.processor: ("processor", "shipment-status", "UNKNOWN_CODE",
                            written.processor.replace("shipment-status.dlq.v1",
                                                      "logistics.shipment-milestone.raw.v1:0:0")),
        written.webhook: ("webhook", "carrier-webhooks", "UNEXPECTED",
                          "webhook_source=easypost webhook_id=msg_every_stage archive="),
        written.sink: ("sink", "iceberg-sink", "DESERIALIZATION",
                       written.sink.replace(iceberg.DLQ, f"{STATUS}:0:0")),
    }
    for name, (stage, owner, category, place) in expected.items():
        row = by_topic[name]
        assert (row["stage"], row["owner"], row["category"]) == (stage, owner, category), row
        assert row["location"].startswith(place), row
        assert row["failed_at"] and row["failed_at"].endswith("Z"), row
        assert row["problems"] == [], row
    assert by_topic[written.edi]["source"]["isa"].startswith("ISA")
    assert by_topic[written.wms]["source"]["columns"].startswith("record_type,")

    table = _cli("list", *topics, "--audit-topic", audit)
    for owner in ("wms-feed", "erp-outbox", "edi-x12", "shipment-status", "carrier-webhooks",
                  "iceberg-sink"):
        assert owner in table
    assert "outbox_id=row-1" in table and "file=counts.csv row=2" in table

    shown = json.loads(_cli("show", f"{written.erp}:0:0", "--audit-topic", audit, "--json"))
    assert (shown["owner"], shown["stage"]) == ("erp-outbox", "connector")
    assert shown["location"].startswith("outbox_id=row-1 outbox_seq=1 database=sqlite:///")
    assert shown["headers"]["backbone.dlq.source.database"].endswith("erp.db")
    assert json.loads(shown["value"]["text"])["aggregatetype"] == "Invoice"

    counts = json.loads(_cli("stats", *topics, "--audit-topic", audit, "--json"))
    assert counts["by_stage"] == {"connector": 3, "processor": 1, "sink": 1, "webhook": 1}
    assert counts["by_owner"] == {"carrier-webhooks": 1, "edi-x12": 1, "erp-outbox": 1,
                                  "iceberg-sink": 1, "shipment-status": 1, "wms-feed": 1}
    only = [json.loads(line) for line in _cli("list", *topics, "--audit-topic", audit, "--stage",
                                              "connector", "--json").splitlines()]
    assert sorted(row["owner"] for row in only) == ["edi-x12", "erp-outbox", "wms-feed"]
