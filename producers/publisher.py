"""EventPublisher: canonical events to their catalog topics, done only when Kafka says so.

Safe defaults (idempotent producer, acks=all) set explicitly; the key comes from the catalog,
the headers from the event; a publish is done when its delivery report is OK. A full local
queue is waited out by polling, never answered by dropping the event.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from backbone import headers as event_headers
from backbone.clients import KafkaClients
from backbone.errors import PublishError
from backbone.events import Event
from backbone.serde import AvroSerde
from backbone.topics import Topic, for_record


@dataclass(frozen=True)
class Delivery:
    """Where Kafka stored an event."""

    topic: str
    partition: int
    offset: int
    key: str | None
    event_id: str


@dataclass
class PublishHooks:
    """Metrics and logging hooks; the publisher calls them, never the other way round."""

    on_delivered: Callable[[Delivery, float], None] | None = None
    on_failed: Callable[[str, str, BaseException], None] | None = None


def producer_config(kafka: KafkaClients | str, **overrides: Any) -> dict[str, Any]:
    """The librdkafka settings of every backbone producer (see KafkaClients.producer)."""
    return KafkaClients.of(kafka).producer(**overrides)


class EventPublisher:
    """Publishes canonical events; use as a context manager so shutdown flushes (bounded)."""

    def __init__(
        self,
        kafka: KafkaClients | str,
        serde: AvroSerde,
        *,
        hooks: PublishHooks | None = None,
        flush_timeout_s: float = 30.0,
        producer: Producer | None = None,
        **config: Any,
    ) -> None:
        self.serde = serde
        self.hooks = hooks or PublishHooks()
        self.flush_timeout_s = flush_timeout_s
        self._producer = producer or Producer(producer_config(kafka, **config))

    def __enter__(self) -> EventPublisher:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def publish(
        self,
        event: Event,
        *,
        topic: Topic | None = None,
        traceparent: str | None = None,
    ) -> Future[Delivery]:
        """Queue ``event`` for its catalog topic; the future resolves on the delivery report.

        Raises EventTooLargeError before producing when the event cannot fit the topic.
        """
        target = topic or for_record(event.RECORD_NAME)
        value = self.serde.serialize(target, event)
        key = target.key_for(event)
        future = DeliveryFuture(self._producer)
        started = time.monotonic()
        record_headers = event_headers.event_headers(
            event.event_id,
            event.correlation.correlation_id,
            event.source.system.value,
            traceparent,
        )

        def on_delivery(error: KafkaError | None, message: Message) -> None:
            if error is not None:
                failure = PublishError(
                    f"Kafka did not accept {event.event_type} {event.event_id} for "
                    f"{target.name}: {error.str()}"
                )
                if self.hooks.on_failed:
                    self.hooks.on_failed(target.name, event.event_id, failure)
                future.set_exception(failure)
                return
            delivery = Delivery(target.name, message.partition(), message.offset(), key,
                                event.event_id)
            if self.hooks.on_delivered:
                self.hooks.on_delivered(delivery, time.monotonic() - started)
            future.set_result(delivery)

        self._produce(target.name, key, value, record_headers, on_delivery)
        return future

    def publish_batch(self, events: Iterable[Event], *, topic: Topic | None = None,
                      timeout_s: float | None = None,
                      traceparent: str | None = None) -> list[Delivery]:
        """Publish ``events`` and wait for all of them; PublishError names every failure."""
        futures = [self.publish(event, topic=topic, traceparent=traceparent) for event in events]
        self.flush(timeout_s)
        return wait_all(futures)

    def flush(self, timeout_s: float | None = None) -> None:
        """Wait (bounded) until every queued event has a delivery report."""
        remaining = self._producer.flush(self.flush_timeout_s if timeout_s is None else timeout_s)
        if remaining:
            raise PublishError(
                f"{remaining} events still had no delivery report after "
                f"{self.flush_timeout_s if timeout_s is None else timeout_s:.0f}s; "
                "is the broker reachable?"
            )

    def poll(self, timeout_s: float = 0.0) -> None:
        """Serve delivery reports (call it in long-running loops)."""
        self._producer.poll(timeout_s)

    def close(self) -> None:
        self.flush()

    def _produce(self, topic: str, key: str | None, value: bytes,
                 headers: list[tuple[str, bytes]],
                 on_delivery: Callable[[KafkaError | None, Message], None]) -> None:
        while True:
            try:
                self._producer.produce(topic, value=value, key=key, headers=headers,
                                       on_delivery=on_delivery)
                break
            except BufferError:
                # The local queue is full: serve delivery reports until there is room.
                self._producer.poll(0.1)
        self._producer.poll(0)


class DeliveryFuture(Future[Delivery]):
    """A future that serves delivery reports while its caller waits on it.

    No background thread polls the producer (a second thread fighting for the GIL cost a third
    of the throughput); instead ``result()`` and ``exception()`` poll until the report arrives.
    """

    def __init__(self, producer: Producer) -> None:
        super().__init__()
        self._producer = producer

    def result(self, timeout: float | None = None) -> Delivery:
        self._serve_until_done(timeout)
        return super().result(timeout=0 if self.done() else timeout)

    def exception(self, timeout: float | None = None) -> BaseException | None:
        self._serve_until_done(timeout)
        return super().exception(timeout=0 if self.done() else timeout)

    def _serve_until_done(self, timeout: float | None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.done():
            if deadline is not None and time.monotonic() >= deadline:
                return
            self._producer.poll(0.05)


def wait_all(futures: Sequence[Future[Delivery]]) -> list[Delivery]:
    """Every delivery, or one PublishError listing each failure (nothing silently dropped)."""
    deliveries: list[Delivery] = []
    failures: list[str] = []
    for future in futures:
        error = future.exception(timeout=0) if future.done() else PublishError("no report")
        if error is None:
            deliveries.append(future.result())
        else:
            failures.append(str(error))
    if failures:
        raise PublishError(f"{len(failures)} of {len(futures)} events not delivered: "
                           + "; ".join(failures[:5]))
    return deliveries
