"""Kafka adapters of the kernel: clients from backbone.clients, and aligning the cluster with
the catalog."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    NewTopic,
)

from backbone.clients import KafkaClients
from backbone.durability import durability_for
from backbone.topics import Topic


def admin_client(kafka: KafkaClients | str) -> AdminClient:
    return AdminClient(KafkaClients.of(kafka).admin())


def consumer_config(kafka: KafkaClients | str, group_id: str, **overrides: Any) -> dict[str, Any]:
    """The librdkafka settings of every backbone consumer (see KafkaClients.consumer)."""
    return KafkaClients.of(kafka).consumer(group_id, **overrides)


@dataclass(frozen=True)
class TopicChange:
    """What ``topics apply`` did (or could not do) to one topic."""

    topic: str
    action: str  # created | unchanged | altered | refused
    detail: str = ""


def apply_topics(admin: AdminClient, catalog: Iterable[Topic],
                 timeout_s: float = 30.0) -> list[TopicChange]:
    """Create missing topics; grow partitions and align configs (durability included) where
    Kafka allows; never lower a replication factor."""
    topics = list(catalog)
    metadata = admin.list_topics(timeout=timeout_s)
    brokers = len(metadata.brokers)
    existing = metadata.topics
    changes = []
    missing = [t for t in topics if t.name not in existing]
    if missing:
        futures = admin.create_topics(
            [NewTopic(t.name, num_partitions=t.partitions,
                      replication_factor=t.durability(brokers).replication_factor,
                      config=t.config(brokers)) for t in missing],
            operation_timeout=timeout_s,
        )
        for topic in missing:
            try:
                futures[topic.name].result(timeout=timeout_s)
                durability = topic.durability(brokers)
                changes.append(TopicChange(
                    topic.name, "created",
                    f"{topic.partitions} partitions, replication factor "
                    f"{durability.replication_factor}, min.insync.replicas "
                    f"{durability.min_insync_replicas}"))
            except KafkaException as error:
                if error.args[0].code() == 36:  # TOPIC_ALREADY_EXISTS: another apply raced us
                    changes.append(TopicChange(topic.name, "unchanged"))
                else:
                    changes.append(TopicChange(topic.name, "refused", error.args[0].str()))
    for topic in topics:
        if topic.name in existing:
            partitions = existing[topic.name].partitions
            replicas = min((len(p.replicas) for p in partitions.values()), default=0)
            changes.append(_align(admin, topic, len(partitions), replicas, brokers, timeout_s))
    return changes


def _align(admin: AdminClient, topic: Topic, partitions: int, replicas: int, brokers: int,
           timeout_s: float) -> TopicChange:
    done: list[str] = []
    refused: list[str] = []
    wanted_replicas = topic.durability(brokers).replication_factor
    if replicas > wanted_replicas:
        # Fewer copies is less durability: never done behind the operator's back.
        refused.append(f"has replication factor {replicas}, the catalog gives "
                       f"{wanted_replicas} on {brokers} broker(s): not lowered (reassign "
                       "partitions with kafka-reassign-partitions.sh if that is really meant)")
    elif replicas < wanted_replicas:
        refused.append(f"has replication factor {replicas}, the catalog wants "
                       f"{wanted_replicas}: raise it with kafka-reassign-partitions.sh "
                       "(topics apply does not move data between brokers)")
    if topic.partitions > partitions:
        admin.create_partitions([NewPartitions(topic.name, topic.partitions)])[topic.name].result(
            timeout=timeout_s)
        done.append(f"partitions {partitions} -> {topic.partitions}")
    elif topic.partitions < partitions:
        refused.append(f"has {partitions} partitions, catalog says {topic.partitions}: Kafka "
                       "cannot remove partitions (recreate the topic to shrink it)")
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic.name)
    current = admin.describe_configs([resource])[resource].result(timeout=timeout_s)
    wanted = topic.config(brokers)
    # min ISR follows the replicas the topic really has: above them every write would be
    # refused, below them durability would be lowered
    wanted["min.insync.replicas"] = str(durability_for(brokers, replicas).min_insync_replicas)
    different = {k: v for k, v in wanted.items() if current[k].value != v}
    if different:
        resource_update = ConfigResource(
            ConfigResource.Type.TOPIC, topic.name,
            incremental_configs=[ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET)
                                 for k, v in different.items()],
        )
        admin.incremental_alter_configs([resource_update])[resource_update].result(
            timeout=timeout_s)
        done.extend(f"{k} {current[k].value} -> {v}" for k, v in different.items())
    if refused:
        return TopicChange(topic.name, "refused", "; ".join(refused + done))
    if done:
        return TopicChange(topic.name, "altered", "; ".join(done))
    return TopicChange(topic.name, "unchanged")
