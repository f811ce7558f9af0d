"""How each processor is doing, as the console shows it: lag, retry backlog, dead letters a minute.

Read from Kafka alone, so it works whether or not the processor runs: the processor's consumer
group's committed offsets against the end of its input and retry topics (lag; the retry part is
the backlog of records waiting for another attempt or a replay), and how many records its
dead-letter topic received in the last ``window_s`` seconds (by record timestamp). Reading the
group's committed offsets does not join the group.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from confluent_kafka import Consumer, TopicPartition

from backbone.clients import KafkaClients
from processors.api import ProcessorTopics, processor, processor_names
from processors.dlq.reading import existing_topics


@dataclass(frozen=True)
class ProcessorHealth:
    """One processor's numbers; ``missing`` names topics that do not exist (nothing counted)."""

    name: str
    group: str
    input_lag: int
    retry_backlog: int
    dead_letters_per_minute: float
    dead_letters_total: int
    missing: tuple[str, ...] = ()

    @property
    def lag(self) -> int:
        return self.input_lag + self.retry_backlog


def _lag(consumer: Consumer, topics: list[str], partitions: dict[str, int]) -> int:
    wanted = [TopicPartition(t, p) for t in topics for p in range(partitions[t])]
    if not wanted:
        return 0
    total = 0
    for tp in consumer.committed(wanted, timeout=10):
        low, high = consumer.get_watermark_offsets(TopicPartition(tp.topic, tp.partition),
                                                   timeout=10)
        # nothing committed yet: the group would start at the beginning (auto.offset.reset)
        position = tp.offset if tp.offset >= 0 else low
        total += max(0, high - max(position, low))
    return total


def _recent(consumer: Consumer, topic: str, partitions: int, since_ms: int) -> tuple[int, int]:
    """Records of ``topic`` written at or after ``since_ms``, and records in it at all."""
    recent = total = 0
    starts = consumer.offsets_for_times(
        [TopicPartition(topic, p, since_ms) for p in range(partitions)], timeout=10)
    for tp in starts:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, tp.partition),
                                                   timeout=10)
        total += high - low
        if tp.offset >= 0:
            recent += high - tp.offset
    return recent, total


def processor_health(kafka: KafkaClients, *, group_prefix: str, topic_prefix: str | None = None,
                     window_s: float = 300.0) -> list[ProcessorHealth]:
    """The numbers of every processor (under ``topic_prefix`` when given)."""
    result = []
    since_ms = int((time.time() - window_s) * 1000)
    for name in processor_names():
        spec = processor(name)
        names = (ProcessorTopics.prefixed(spec, topic_prefix) if topic_prefix
                 else ProcessorTopics())
        group = f"{group_prefix}{name}"
        consumer = Consumer(kafka.consumer(group))
        try:
            present = existing_topics(consumer)
            inputs = [names.name(t) for t in spec.input_topics]
            retry, dlq = names.name(spec.retry_topic), names.name(spec.dlq_topic)
            missing = tuple(t for t in [*inputs, retry, dlq] if t not in present)
            inputs = [t for t in inputs if t in present]
            input_lag = _lag(consumer, inputs, present)
            backlog = _lag(consumer, [retry], present) if retry in present else 0
            recent, total = (_recent(consumer, dlq, present[dlq], since_ms) if dlq in present
                             else (0, 0))
        finally:
            consumer.close()
        result.append(ProcessorHealth(name, group, input_lag, backlog,
                                      round(recent / (window_s / 60), 2), total, missing))
    return result
