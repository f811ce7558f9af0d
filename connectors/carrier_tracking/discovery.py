"""Which shipments are in flight: carrier + tracking number read from ASNs, ShipmentMilestones and
ShipmentStatus events, with the milestone each says the shipment reached.

``sightings(event, mappings)`` is pure; ``Discovery`` reads the three topics from where it last
stopped to their current end (positions kept beside the watches, in the offsets topic, as the
partitions ``{"topic": ..., "partition": ...}``; inclusive, like every source offset).
A record that cannot be decoded is skipped with a log line: it belongs to its producer's
dead-letter path, not to ours.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaError, TopicPartition

from backbone.clients import KafkaClients
from backbone.errors import BackboneError, DecodeError, SchemaValidationError, UnknownCodeError
from backbone.events import Event
from backbone.events.logistics import Milestone, ShipmentMilestone, ShipmentStatus
from backbone.events.procurement import AdvanceShipNotice
from backbone.serde import AvroSerde
from backbone.topics import Topic
from connectors.carrier_tracking.clients import API_OF_CARRIER
from processors.shipment_status import StatusMappings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sighting:
    """A shipment named by an event: which API to ask, the number, what it reached."""

    carrier: str
    tracking_number: str
    milestone: Milestone | None = None


def sightings(event: Event, mappings: StatusMappings) -> list[Sighting]:
    """The shipments ``event`` names that a carrier API can be asked about."""
    if isinstance(event, ShipmentStatus):
        api = API_OF_CARRIER.get(event.carrier.upper())
        return [Sighting(api, event.tracking_number, event.milestone)] if api else []
    if isinstance(event, ShipmentMilestone):
        api = API_OF_CARRIER.get(event.carrier.upper())
        if not api:
            return []
        try:
            milestone = mappings.resolve(event.raw_status).milestone
        except UnknownCodeError:
            milestone = None  # the normalizer dead-letters it; the shipment is still in flight
        return [Sighting(api, event.tracking_number, milestone)]
    if isinstance(event, AdvanceShipNotice):
        api = API_OF_CARRIER.get(((event.carrier.scac if event.carrier else None) or "").upper())
        if not api:
            return []
        numbers = list(event.correlation.tracking_numbers) if event.correlation else []
        numbers += [unit.tracking_number for order in event.orders
                    for unit in order.handling_units if unit.tracking_number]
        return [Sighting(api, number) for number in dict.fromkeys(numbers)]
    return []


Position = tuple[dict[str, str], dict[str, int]]


class Discovery:
    """Reads the discovery topics from stored positions to their end."""

    def __init__(self, kafka: KafkaClients | str, serde: AvroSerde, topics: Iterable[Topic],
                 mappings: StatusMappings, *, timeout_s: float = 10.0) -> None:
        self.kafka = KafkaClients.of(kafka)
        self.serde = serde
        self.topics = list(topics)
        self.mappings = mappings
        self.timeout_s = timeout_s
        self.positions: dict[tuple[str, int], int] = {}  # last offset read, inclusive
        self.skipped = 0
        self._consumer: Consumer | None = None

    def resume(self, stored: Iterable[tuple[dict[str, str], dict[str, int]]]) -> None:
        for partition, offset in stored:
            self.positions[(partition["topic"], int(partition["partition"]))] = int(
                offset["offset"])

    def read(self) -> Iterator[Sighting]:
        """Every sighting from the stored positions to the topics' current end."""
        if self._consumer is None:
            # One consumer for every round; positions are ours (assign, no group commits), the
            # group id only satisfies the client.
            self._consumer = Consumer(self.kafka.consumer(
                f"backbone-carrier-tracking-{uuid.uuid4().hex[:8]}"))
        consumer = self._consumer
        ends = self._assign(consumer)
        try:
            while ends:
                message = consumer.poll(self.timeout_s)
                if message is None:
                    raise BackboneError("reading the discovery topics stalled before their end; "
                                        "is the broker reachable?")
                if message.error() is not None:
                    if message.error().code() == KafkaError._PARTITION_EOF:
                        continue
                    raise BackboneError(f"reading {message.topic()}: {message.error().str()}")
                where = (str(message.topic()), int(message.partition()))
                self.positions[where] = message.offset()
                if message.offset() + 1 >= ends.get(where, 0):
                    ends.pop(where, None)
                yield from self._sightings(message.topic(), message.value())
        finally:
            consumer.unassign()

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None

    def stored_positions(self) -> list[Position]:
        return [({"topic": topic, "partition": str(partition)}, {"offset": offset})
                for (topic, partition), offset in sorted(self.positions.items())]

    def _assign(self, consumer: Consumer) -> dict[tuple[str, int], int]:
        ends: dict[tuple[str, int], int] = {}
        assignment: list[TopicPartition] = []
        for topic in self.topics:
            metadata = consumer.list_topics(topic.name, timeout=self.timeout_s)
            described = metadata.topics.get(topic.name)
            if described is None or described.error is not None:
                log.warning("discovery topic %s is missing; shipments it names are not found",
                            topic.name)
                continue
            for partition in described.partitions:
                low, high = consumer.get_watermark_offsets(
                    TopicPartition(topic.name, partition), timeout=self.timeout_s)
                start = max(low, self.positions.get((topic.name, partition), low - 1) + 1)
                if high > start:
                    ends[(topic.name, partition)] = high
                    assignment.append(TopicPartition(topic.name, partition, start))
        if assignment:
            consumer.assign(assignment)
        return ends

    def _sightings(self, topic_name: str, value: bytes | None) -> list[Sighting]:
        topic = next(t for t in self.topics if t.name == topic_name)
        try:
            event = self.serde.deserialize(topic, value)
        except (DecodeError, SchemaValidationError) as error:  # a registry outage propagates
            self.skipped += 1
            log.warning("skipped an undecodable record on %s: %s", topic_name, error)
            return []
        return sightings(event, self.mappings)
