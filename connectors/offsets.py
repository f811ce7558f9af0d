"""Source offsets of the connectors, kept in the compacted topic ``backbone.connect-offsets.v1``.

One record per (connector, source partition): key ``["<connector>", {<partition>}]`` (Kafka
Connect's layout, canonical JSON), value the offset as a JSON object. Compaction keeps the last
value per key, so reading the topic from the beginning to its end on start gives every
partition's last delivered offset. Offsets are written only after Kafka acknowledged the events
they cover, and a write is done only when Kafka acknowledged it too.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable
from typing import Any

from confluent_kafka import (
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)

from backbone.clients import KafkaClients, quiet_logger
from backbone.errors import PublishError
from backbone.kafka import consumer_config
from backbone.topics import topic as catalog_topic
from connectors.api import SourceOffset, SourcePartition, partition_key
from producers.publisher import producer_config

OFFSETS_TOPIC = catalog_topic("backbone.connect-offsets.v1").name


def offset_key(connector: str, partition: SourcePartition) -> str:
    """The record key of one partition's offsets: ``["<connector>",{...}]``."""
    return f"[{json.dumps(connector)},{partition_key(partition)}]"


class KafkaOffsetStore:
    """Reads the offsets topic once on :meth:`load`; :meth:`commit` writes and waits."""

    def __init__(self, kafka: KafkaClients | str, *, topic: str = OFFSETS_TOPIC,
                 timeout_s: float = 30.0, producer: Producer | None = None) -> None:
        self.kafka = KafkaClients.of(kafka)
        self.topic = topic
        self.timeout_s = timeout_s
        self._producer = producer or Producer(producer_config(self.kafka))
        self._offsets: dict[str, dict[str, Any]] = {}

    def load(self) -> None:
        """Read the topic from the beginning to its current end; the last value per key wins.

        A broker down at start-up leaves its partitions without a leader until the cluster
        elects new ones: that is waited out (up to ``timeout_s``), never a reason to die or to
        start from no offsets at all (which would publish every source again).
        """
        deadline = time.monotonic() + self.timeout_s
        # A throwaway group: offsets are read with assign(), the group only satisfies the client.
        consumer = Consumer(consumer_config(
            self.kafka, f"backbone-offsets-reader-{uuid.uuid4().hex[:8]}",
            # librdkafka's own lines would report the group coordinator connection this
            # unused group opens and close() cuts (on a secured cluster: "SASL ... failed")
            **{"enable.partition.eof": False, "logger": quiet_logger()},
        ))
        try:
            metadata = consumer.list_topics(self.topic, timeout=self.timeout_s)
            described = metadata.topics.get(self.topic)
            if described is None or described.error is not None:
                raise PublishError(
                    f"the offsets topic {self.topic} does not exist; create it with "
                    "`backbone topics apply`"
                )
            ends: dict[int, int] = {}
            for partition in described.partitions:
                low, high = self._watermarks(consumer, partition, deadline)
                if high > low:
                    ends[partition] = high
            if not ends:
                return
            consumer.assign([TopicPartition(self.topic, p, 0) for p in ends])
            self._read_until(consumer, ends, deadline)
        finally:
            consumer.close()

    def _watermarks(self, consumer: Consumer, partition: int,
                    deadline: float) -> tuple[int, int]:
        while True:
            try:
                low, high = consumer.get_watermark_offsets(
                    TopicPartition(self.topic, partition),
                    timeout=max(1.0, min(5.0, deadline - time.monotonic())))
                return int(low), int(high)
            except KafkaException as exception:
                error = exception.args[0]
                if error.fatal() or time.monotonic() >= deadline:
                    raise PublishError(
                        f"reading {self.topic} partition {partition}: {error.str()} "
                        f"(for {self.timeout_s:.0f}s); is the cluster reachable?") from None
                time.sleep(0.5)  # no leader yet: the cluster is electing one

    def _read_until(self, consumer: Consumer, ends: dict[int, int], deadline: float) -> None:
        remaining = dict(ends)
        while remaining:
            message = consumer.poll(1.0)
            if message is not None and message.error() is None:
                self._apply(message)
                if message.offset() + 1 >= remaining.get(message.partition(), 0):
                    remaining.pop(message.partition(), None)
                continue
            if message is not None and message.error().fatal():
                raise PublishError(f"reading {self.topic}: {message.error().str()}")
            # nothing yet, or a transient error (a leader moving): the client retries
            if time.monotonic() >= deadline:
                raise PublishError(
                    f"reading {self.topic} stalled before its end (partitions "
                    f"{sorted(remaining)}, {self.timeout_s:.0f}s); is the cluster reachable?")

    def _apply(self, message: Message) -> None:
        key = message.key()
        if key is None:
            return
        text = key.decode("utf-8", errors="replace")
        value = message.value()
        if value is None:
            self._offsets.pop(text, None)
            return
        try:
            decoded = json.loads(value)
        except ValueError:
            return  # not ours to judge; a later valid write for the key replaces it
        if isinstance(decoded, dict):
            self._offsets[text] = decoded

    def stored(self, connector: str) -> list[tuple[dict[str, Any], SourceOffset]]:
        """Every partition of ``connector`` with its offset (a task that finds its partitions
        in the store itself: the tracking poller's shipments)."""
        prefix = f"[{json.dumps(connector)},"
        found: list[tuple[dict[str, Any], SourceOffset]] = []
        for key, offset in self._offsets.items():
            if key.startswith(prefix):
                try:
                    partition = json.loads(key)[1]
                except (ValueError, IndexError):
                    continue
                if isinstance(partition, dict):
                    found.append((partition, offset))
        return found

    def offset(self, connector: str, partition: SourcePartition) -> SourceOffset | None:
        """The last stored offset of ``partition`` (inclusive: resume after it)."""
        return self._offsets.get(offset_key(connector, partition))

    def commit(self, connector: str,
               offsets: Iterable[tuple[SourcePartition, SourceOffset]]) -> None:
        """Store ``offsets`` and return only once Kafka acknowledged every one of them."""
        failures: list[str] = []

        def on_delivery(error: KafkaError | None, _message: Message) -> None:
            if error is not None:
                failures.append(error.str())

        written: dict[str, dict[str, Any]] = {}
        for partition, offset in offsets:
            key = offset_key(connector, partition)
            written[key] = dict(offset)
            self._producer.produce(self.topic, key=key.encode(),
                                   value=json.dumps(written[key], sort_keys=True).encode(),
                                   on_delivery=on_delivery)
        remaining = self._producer.flush(self.timeout_s)
        if remaining or failures:
            raise PublishError(
                f"source offsets of {connector} were not stored in {self.topic}: "
                + ("; ".join(failures[:3]) or f"{remaining} writes unacknowledged")
            )
        self._offsets.update(written)
