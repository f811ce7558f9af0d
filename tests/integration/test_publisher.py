"""EventPublisher on the real broker: keys, headers, delivery reports, batches, back-pressure."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace

import pytest
from confluent_kafka import Consumer

from backbone.errors import EventTooLargeError, PublishError
from backbone.kafka import consumer_config
from backbone.registry import SchemaRegistry
from backbone.samples import sample, sample_shipment_milestone
from backbone.serde import AvroSerde
from backbone.topics import Topic, topic
from producers import Delivery, EventPublisher, PublishHooks
from tests.conftest import TopicFactory

pytestmark = pytest.mark.integration


@pytest.fixture
def serde(registry_url: str) -> Iterator[AvroSerde]:
    registry = SchemaRegistry(registry_url)
    yield AvroSerde(registry)
    registry.close()


@pytest.fixture
def milestones(topic_factory: TopicFactory) -> Topic:
    return replace(topic("logistics.shipment-milestone.raw.v1"), name=topic_factory(partitions=3))


def _read(bootstrap: str, name: str, group: str, count: int) -> list[object]:
    consumer = Consumer(consumer_config(bootstrap, group))
    consumer.subscribe([name])
    messages = []
    try:
        for _ in range(60):
            messages.extend(m for m in consumer.consume(500, timeout=0.5) if not m.error())
            if len(messages) >= count:
                break
    finally:
        consumer.close()
    return messages


def test_publish_keys_headers_and_delivery(
    bootstrap_servers: str, serde: AvroSerde, milestones: Topic, group_id: str
) -> None:
    delivered: list[Delivery] = []
    hooks = PublishHooks(on_delivered=lambda d, _latency: delivered.append(d))
    event = sample_shipment_milestone(seed=11)
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    with EventPublisher(bootstrap_servers, serde, hooks=hooks) as publisher:
        delivery = publisher.publish(event, topic=milestones, traceparent=traceparent).result(30)

    assert delivery.key == f"{event.carrier}:{event.tracking_number}"
    assert delivered == [delivery]
    [message] = _read(bootstrap_servers, milestones.name, group_id, 1)
    assert message.key().decode() == delivery.key  # type: ignore[attr-defined]
    headers = dict(message.headers())  # type: ignore[attr-defined]
    assert headers["event_id"] == event.event_id.encode()
    assert headers["traceparent"] == traceparent.encode()
    assert headers["source_system"] == event.source.system.value.encode()
    assert headers["correlation_id"]
    assert serde.deserialize(milestones, message.value()) == event  # type: ignore[attr-defined]


def test_batch_of_5000_is_delivered_in_order_per_key(
    bootstrap_servers: str, serde: AvroSerde, milestones: Topic, group_id: str
) -> None:
    events = [sample_shipment_milestone(seed=n, tracking_number=f"1ZTEST{n % 7:04d}")
              for n in range(5000)]
    # A tiny local queue forces BufferError; the publisher must wait, never drop.
    with EventPublisher(bootstrap_servers, serde, **{"queue.buffering.max.messages": 100}) as p:
        deliveries = [d for chunk in (events[i:i + 1000] for i in range(0, 5000, 1000))
                      for d in p.publish_batch(chunk, topic=milestones)]
    assert len(deliveries) == 5000
    messages = _read(bootstrap_servers, milestones.name, group_id, 5000)
    assert len(messages) == 5000
    seen: dict[bytes, list[str]] = {}
    for message in messages:
        seen.setdefault(message.key(), []).append(  # type: ignore[attr-defined]
            dict(message.headers())["event_id"].decode())  # type: ignore[attr-defined]
    expected: dict[bytes, list[str]] = {}
    for event in events:
        expected.setdefault(f"{event.carrier}:{event.tracking_number}".encode(), []).append(
            event.event_id)
    assert seen == expected


def test_oversized_event_refused_before_produce(
    bootstrap_servers: str, serde: AvroSerde, milestones: Topic
) -> None:
    tiny = replace(milestones, max_message_bytes=100)
    with EventPublisher(bootstrap_servers, serde) as publisher, pytest.raises(
        EventTooLargeError, match="split the document"
    ):
        publisher.publish(sample("ShipmentMilestone"), topic=tiny)


def test_missing_topic_fails_the_future_not_silently(
    bootstrap_servers: str, serde: AvroSerde
) -> None:
    missing = replace(topic("logistics.shipment-milestone.raw.v1"),
                      name=f"test.missing.{uuid.uuid4().hex[:8]}")
    with EventPublisher(bootstrap_servers, serde, **{"message.timeout.ms": 3000}) as publisher:
        future = publisher.publish(sample("ShipmentMilestone"), topic=missing)
        publisher.flush(10)
        failure = future.exception(timeout=10)
        assert isinstance(failure, PublishError)
        assert missing.name in str(failure)
        with pytest.raises(PublishError, match="1 of 1 events not delivered"):
            publisher.publish_batch([sample("ShipmentMilestone")], topic=missing)
