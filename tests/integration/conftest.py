"""PostgreSQL for the connector tests: BACKBONE_ERP_DB, else a throwaway local server.

Under CI=true a missing PostgreSQL fails the run, never skips (like the broker in
tests/conftest.py). ``erp_db`` gives each test its own fresh database on that server.
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from confluent_kafka import Consumer, Message, TopicPartition

from backbone.kafka import consumer_config
from backbone.serde import AvroSerde
from backbone.stack import StackError
from backbone.stack.postgres import LocalPostgres
from connectors.erp_outbox import ErpOutboxConnector
from connectors.offsets import KafkaOffsetStore
from connectors.runner import SourceRunner, parse_routes
from connectors.wms_feed.connector import WmsFeedConnector
from producers import EventPublisher


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL server URL whose user may create databases."""
    given = os.environ.get("BACKBONE_ERP_DB")
    if given:
        yield given
        return
    folder = Path(tempfile.mkdtemp(prefix="backbone-pg-"))
    folder.chmod(0o755)  # the server may run as the postgres user (we are root on CI)
    server = LocalPostgres(folder)
    try:
        url = server.up().url
    except StackError as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"no PostgreSQL for the ERP outbox tests: {error}")
        pytest.skip(f"no PostgreSQL: {error}")
    try:
        yield url
    finally:
        server.down()


@pytest.fixture
def erp_db(postgres_url: str) -> Iterator[str]:
    """A fresh, empty database on the test server (dropped afterwards)."""
    import psycopg

    name = f"erp_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(postgres_url)
    yield urlunsplit(parts._replace(path=f"/{name}"))
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class ConnectTopics:
    """Fresh topics standing in for the catalog ones a connector writes: events, dead letters,
    offsets. ``cli_args()`` are the matching ``backbone connect`` options."""

    def __init__(self, events: dict[str, str], dead_letters: str, offsets: str) -> None:
        self.events = events
        self.dead_letters = dead_letters
        self.offsets = offsets

    def cli_args(self) -> list[str]:
        args = [arg for event_type, name in self.events.items()
                for arg in ("--route", f"{event_type}={name}")]
        return [*args, "--offsets-topic", self.offsets, "--dead-letter-topic", self.dead_letters]


@pytest.fixture
def connect_topics(topic_factory: Callable[..., str]) -> ConnectTopics:
    events = {event_type: topic_factory(partitions=3) for event_type in (
        "PurchaseOrderChanged", "InventorySnapshot", "InventoryMovement", "GoodsReceipt")}
    return ConnectTopics(events, topic_factory(),
                         topic_factory(config={"cleanup.policy": "compact"}))


def consume(bootstrap_servers: str, topic: str, *, expect: int | None = None,
            idle_s: float = 5.0, timeout_s: float = 90.0) -> list[Message]:
    """Every record of ``topic`` (all partitions) until ``expect`` arrived, or ``idle_s`` of
    silence after the end was reached."""
    consumer = Consumer(consumer_config(bootstrap_servers, f"test-{uuid.uuid4().hex[:8]}",
                                        **{"enable.partition.eof": True}))
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    records: list[Message] = []
    deadline = time.monotonic() + timeout_s
    last_record = time.monotonic()
    try:
        while time.monotonic() < deadline:
            batch = consumer.consume(5000, 0.5)
            for message in batch:
                if message.error() is None:
                    records.append(message)
                    last_record = time.monotonic()
            if expect is not None and len(records) >= expect:
                # drain briefly: duplicates beyond `expect` must be seen too
                expect = None
                last_record = time.monotonic() - idle_s + 1.0
            if time.monotonic() - last_record > idle_s and (expect is None):
                break
    finally:
        consumer.close()
    return records


def run_connector_once(connector: WmsFeedConnector | ErpOutboxConnector, bootstrap: str,
                   serde: AvroSerde, topic_factory: Callable[..., str]) -> None:
    """One ``SourceRunner`` pass over ``connector`` (fresh offsets and event topics) that
    must end in exactly one dead letter."""
    store = KafkaOffsetStore(bootstrap, topic=topic_factory(config={"cleanup.policy":
                                                                    "compact"}))
    store.load()
    routes = parse_routes([f"{kind}={topic_factory(1)}" for kind in (
        "PurchaseOrderChanged", "InventorySnapshot", "InventoryMovement", "GoodsReceipt")])
    with EventPublisher(bootstrap, serde) as publisher:
        summary = SourceRunner(connector, publisher, store, kafka=bootstrap,
                               routes=routes).run(once=True)
    assert summary.dead_letters == 1
