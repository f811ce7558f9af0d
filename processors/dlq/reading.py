"""Reading dead-letter (and audit) topics from the start to their current end, without a group.

Reads assign partitions directly (no subscription, no rebalance, nothing committed) and stop
at each partition's end as it was when the read started, so a topic that keeps growing does
not keep a command running.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, TopicPartition

from backbone.clients import KafkaClients, quiet_logger
from backbone.kafka import consumer_config


class MissingTopicError(LookupError):
    """A topic the operator named (or the command needs) does not exist on the cluster."""


def existing_topics(consumer: Consumer, timeout_s: float = 10.0) -> dict[str, int]:
    """Topic name -> partition count, for every topic on the cluster."""
    metadata = consumer.list_topics(timeout=timeout_s)
    return {
        name: len(entry.partitions) for name, entry in metadata.topics.items()
        if entry.error is None
    }


def reader(kafka: KafkaClients | str, group_id: str | None = None) -> Consumer:
    """A consumer for reading topics by assignment; it commits nothing by itself."""
    return Consumer(consumer_config(
        kafka, group_id or f"backbone-dlq-read-{uuid.uuid4().hex[:8]}",
        **{"enable.partition.eof": True, "logger": quiet_logger()},
    ))


def read_topics(
    consumer: Consumer,
    topics: Sequence[str],
    start: dict[tuple[str, int], int] | None = None,
    timeout_s: float = 30.0,
) -> Iterator[Message]:
    """Every record of ``topics`` from ``start`` (or the beginning) to their end right now.

    MissingTopicError names a topic that does not exist.
    """
    present = existing_topics(consumer)
    missing = [name for name in topics if name not in present]
    if missing:
        raise MissingTopicError(
            f"topic {', '.join(missing)} does not exist on this cluster; check the name "
            "(`backbone topics list`) or create the catalog topics with `backbone topics apply`"
        )
    start = start or {}
    assignment = []
    remaining: set[tuple[str, int]] = set()
    for name in topics:
        for partition in range(present[name]):
            low, high = consumer.get_watermark_offsets(
                TopicPartition(name, partition), timeout=timeout_s
            )
            first = max(start.get((name, partition), low), low)
            if high > first:
                assignment.append(TopicPartition(name, partition, first or OFFSET_BEGINNING))
                remaining.add((name, partition))
    if not assignment:
        return
    ends = {
        (tp.topic, tp.partition): consumer.get_watermark_offsets(tp, timeout=timeout_s)[1]
        for tp in assignment
    }
    consumer.assign(assignment)
    idle_polls = 0
    while remaining:
        message = consumer.poll(1.0)
        if message is None:
            idle_polls += 1
            if idle_polls > timeout_s:
                return  # a partition that never reaches its end (an open transaction)
            continue
        idle_polls = 0
        where = (message.topic(), message.partition())
        error = message.error()
        if error is not None:
            if error.code() == KafkaError._PARTITION_EOF:
                remaining.discard(where)
                continue
            raise RuntimeError(f"reading {where[0]} partition {where[1]}: {error.str()}")
        if where not in remaining:
            continue
        yield message
        if message.offset() + 1 >= ends[where]:
            remaining.discard(where)
    consumer.unassign()
