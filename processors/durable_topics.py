"""The processors' internal topics (Quix changelog and repartition) replicated like the catalog.

Quix creates them itself, with the replication factor of the input topics and no
``min.insync.replicas``. Through its public ``topic_manager`` option, the application gets a
topic manager that creates them with backbone's durability instead (backbone.durability):
replication ``min(3, brokers)``, min ISR one less, no unclean leader election. Existing
internal topics are aligned by ``backbone topics apply`` (backbone.kafka.align_internal_topics).
"""

from __future__ import annotations

from typing import Any

from quixstreams.kafka.configuration import ConnectionConfig
from quixstreams.models.topics import Topic, TopicAdmin, TopicConfig, TopicManager

from backbone.clients import KafkaClients
from backbone.durability import Durability, durability_for


class DurableTopicManager(TopicManager):
    """Quix's topic manager, creating internal topics with the catalog's durability."""

    def __init__(self, topic_admin: TopicAdmin, consumer_group: str, **options: Any) -> None:
        super().__init__(topic_admin, consumer_group, **options)
        self._admin_of_cluster = topic_admin
        self._durability: Durability | None = None

    def durability(self) -> Durability:
        """Asked from the cluster once, when the first internal topic is made."""
        if self._durability is None:
            brokers = self._admin_of_cluster.admin_client.list_topics(timeout=30).brokers
            self._durability = durability_for(len(brokers))
        return self._durability

    def durable(self, config: TopicConfig) -> TopicConfig:
        durability = self.durability()
        return TopicConfig(
            num_partitions=config.num_partitions,
            replication_factor=durability.replication_factor,
            extra_config={**config.extra_config, **durability.config()},
        )

    def repartition_topic(self, operation: str, stream_id: str, config: TopicConfig,
                          *args: Any, **kwargs: Any) -> Topic:
        return super().repartition_topic(operation, stream_id, self.durable(config),
                                         *args, **kwargs)

    def changelog_topic(self, stream_id: str | None, store_name: str,
                        config: TopicConfig) -> Topic:
        return super().changelog_topic(stream_id, store_name, self.durable(config))


def durable_topic_manager(kafka: KafkaClients | str,
                          consumer_group: str) -> DurableTopicManager:
    """The ``topic_manager`` for ``quixstreams.Application``: the same cluster and security
    as the application's own clients."""
    return DurableTopicManager(
        TopicAdmin(broker_address=ConnectionConfig.from_librdkafka_dict(
            KafkaClients.of(kafka).common())),
        consumer_group,
    )
