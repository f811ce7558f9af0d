"""The webhook service's Kafka side: archive a raw body, publish its milestones, say when Kafka
acknowledged them.

One producer shared by the archive (opaque bytes, so not through the serde) and an
EventPublisher (canonical events). Its ``message.timeout.ms`` is short (settings
``webhook_delivery_timeout_ms``) because a sender is waiting on the HTTP answer: an unreachable
broker must become a 503 within seconds, not after librdkafka's default five minutes. A
background thread serves delivery reports so request handlers can await plain futures instead
of each polling the producer. Queuing a record never waits (a full local queue is refused at
once), so the service calls it on its event loop.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from backbone.clients import KafkaClients
from backbone.dead_letters import DeadLetter, Stage, format_time
from backbone.errors import PublishError
from backbone.events import ShipmentMilestone
from backbone.serde import AvroSerde
from backbone.topics import Topic, topic
from producers.publisher import Delivery, EventPublisher, producer_config

ARCHIVE_TOPIC = "logistics.carrier-webhook.raw.v1"
MILESTONE_TOPIC = "logistics.shipment-milestone.raw.v1"
DEAD_LETTER_TOPIC = "carrier-webhooks.dlq.v1"
OWNER = "carrier-webhooks"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IntakeTopics:
    """Where raw bodies and milestones go; tests and staging pass fresh topics instead."""

    archive: Topic = field(default_factory=lambda: topic(ARCHIVE_TOPIC))
    milestones: Topic = field(default_factory=lambda: topic(MILESTONE_TOPIC))
    dead_letters: Topic = field(default_factory=lambda: topic(DEAD_LETTER_TOPIC))


@dataclass(frozen=True)
class RawWebhook:
    """A body exactly as received, with what the archive record's headers say about it."""

    webhook_id: str
    source: str
    content_type: str
    received_at: datetime
    body: bytes

    def headers(self) -> list[tuple[str, bytes]]:
        return [
            ("source", self.source.encode()),
            ("webhook-id", self.webhook_id.encode()),
            ("content-type", self.content_type.encode()),
            ("received-at", self.received_at.isoformat().encode()),
        ]


    def dead_letter(self, error: BaseException, archived: Archived) -> DeadLetter:
        """The dead-letter record of a body no parser could read: the webhook's id, source,
        content type and receive time (what `backbone dlq replay` parses it with again) and
        where the archive keeps it."""
        return DeadLetter.from_error(
            error, stage=Stage.WEBHOOK, owner=OWNER, step="parse",
            business_key=self.webhook_id,
            source={"webhook_source": self.source, "webhook_id": self.webhook_id,
                    "content_type": self.content_type,
                    "received_at": format_time(int(self.received_at.timestamp() * 1000)),
                    "archive": f"{archived.topic}:{archived.partition}:{archived.offset}"})


@dataclass(frozen=True)
class Archived:
    """Where Kafka stored a raw body (quoted in responses so it can be found and re-parsed)."""

    topic: str
    partition: int
    offset: int


class IntakePublisher:
    """Archives webhook bodies and publishes their events; ``close()`` stops it (bounded flush)."""

    def __init__(self, kafka: KafkaClients | str, serde: AvroSerde, *, delivery_timeout_ms: int,
                 topics: IntakeTopics | None = None, flush_timeout_s: float = 10.0,
                 **config: Any) -> None:
        self.topics = topics or IntakeTopics()
        self.delivery_timeout_s = delivery_timeout_ms / 1000
        self._producer = Producer(producer_config(
            kafka,
            # A sender waits on our answer: fail a delivery in seconds, then answer 503.
            **{"message.timeout.ms": delivery_timeout_ms,
               # One webhook's archive and events are waited on at once; batching only adds
               # latency to each answer.
               "linger.ms": 1,
               "logger": logging.getLogger(f"{__name__}.librdkafka"),
               **config}))
        self._events = EventPublisher(kafka, serde, producer=self._producer,
                                      flush_timeout_s=flush_timeout_s)
        self._stopping = threading.Event()
        self._reports = threading.Thread(target=self._serve_reports, daemon=True,
                                         name="webhook-delivery-reports")
        self._reports.start()

    def archive(self, raw: RawWebhook) -> Future[Archived]:
        """Queue ``raw`` for the archive topic, keyed by its webhook-id (never blocks).

        Raises PublishError at once when the producer's local queue is full.
        """
        future: Future[Archived] = Future()

        def on_delivery(error: KafkaError | None, message: Message) -> None:
            if error is not None:
                future.set_exception(PublishError(
                    f"Kafka did not archive webhook {raw.webhook_id} to "
                    f"{self.topics.archive.name}: {error.str()}"))
            else:
                future.set_result(Archived(self.topics.archive.name, message.partition(),
                                           message.offset()))

        self._produce(raw, on_delivery)
        return future

    def dead_letter(self, raw: RawWebhook, error: BaseException,
                    archived: Archived) -> Future[None]:
        """Queue ``raw``'s body as a dead letter (never blocks; PublishError when the local
        queue is full)."""
        future: Future[None] = Future()
        name = self.topics.dead_letters.name

        def on_delivery(failure: KafkaError | None, _message: Message) -> None:
            if failure is not None:
                future.set_exception(PublishError(
                    f"Kafka did not take the dead letter of webhook {raw.webhook_id} on "
                    f"{name}: {failure.str()}"))
            else:
                future.set_result(None)

        try:
            self._producer.produce(name, value=raw.body, key=raw.webhook_id,
                                   headers=raw.dead_letter(error, archived).to_headers(),
                                   on_delivery=on_delivery)
        except BufferError:
            raise PublishError(f"Kafka is not keeping up: webhook {raw.webhook_id}'s dead "
                               "letter was not queued") from None
        return future

    def publish(self, event: ShipmentMilestone) -> Future[Delivery]:
        """Queue one milestone for the milestone topic (keyed carrier:tracking_number).

        Only the first call blocks: it may ask the schema registry for the topic's schema id.
        """
        return self._events.publish(event, topic=self.topics.milestones)

    def reachable(self, timeout_s: float = 1.0) -> str | None:
        """None when the broker answers a metadata request for the archive topic, else why not."""
        name = self.topics.archive.name
        try:
            metadata = self._producer.list_topics(name, timeout=timeout_s)
        except KafkaException as error:
            return f"no answer from Kafka: {error.args[0].str()}"
        entry = metadata.topics.get(name)
        if entry is None or entry.error is not None:
            problem = entry.error.str() if entry is not None and entry.error else "missing"
            return f"topic {name}: {problem}; run `backbone topics apply`"
        return None

    def close(self) -> None:
        """Wait (bounded) for outstanding deliveries, then stop serving reports."""
        try:
            self._producer.flush(self.delivery_timeout_s + 1)
        finally:
            self._stopping.set()
            self._reports.join(timeout=5)

    def _produce(self, raw: RawWebhook, on_delivery: Any) -> None:
        try:
            self._producer.produce(self.topics.archive.name, value=raw.body,
                                   key=raw.webhook_id, headers=raw.headers(),
                                   on_delivery=on_delivery)
        except BufferError:
            # The local queue is full: Kafka is far behind. Waiting for room would stall the
            # event loop this runs on; the sender is told to come back instead (503).
            raise PublishError(
                f"Kafka is not keeping up: the producer's local queue is full "
                f"({len(self._producer)} records waiting), webhook {raw.webhook_id} was not "
                "archived") from None

    def _serve_reports(self) -> None:
        while not self._stopping.is_set():
            try:
                self._producer.poll(0.1)
            except Exception:  # a failing callback must not stop every later report
                log.exception("serving Kafka delivery reports failed")
