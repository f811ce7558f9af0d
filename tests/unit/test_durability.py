"""Durability rules: replication from the cluster size, and weakened producers refused."""

from __future__ import annotations

from typing import Any

import pytest

from backbone.clients import DurabilityError, KafkaClients
from backbone.durability import (
    Durability,
    WeakDurabilityError,
    durability_for,
    refuse_weakened_durability,
)
from producers.publisher import producer_config


@pytest.mark.parametrize(("brokers", "wanted", "expected"), [
    (1, 3, Durability(1, 1)), (2, 3, Durability(2, 1)), (3, 3, Durability(3, 2)),
    (5, 3, Durability(3, 2)), (5, 5, Durability(5, 4)), (3, 1, Durability(1, 1)),
])
def test_replication_is_capped_by_the_cluster_and_min_isr_is_one_less(
        brokers: int, wanted: int, expected: Durability) -> None:
    assert durability_for(brokers, wanted) == expected


def test_topic_config_forbids_unclean_leader_election() -> None:
    assert durability_for(3).config() == {"min.insync.replicas": "2",
                                          "unclean.leader.election.enable": "false"}


def test_a_cluster_without_brokers_is_an_error() -> None:
    with pytest.raises(ValueError, match="at least one broker"):
        durability_for(0)


@pytest.mark.parametrize("config", [
    producer_config("127.0.0.1:9092"), {"acks": "all", "enable.idempotence": True},
    {"acks": -1, "enable.idempotence": "true"}, {"request.required.acks": "-1"},
    {"enable.idempotence": "TRUE"}, {},
])
def test_safe_configurations_pass(config: dict[str, Any]) -> None:
    refuse_weakened_durability(config)


@pytest.mark.parametrize(("config", "named"), [
    ({"acks": "1"}, "acks=1"), ({"acks": 0}, "acks=0"), ({"acks": "2"}, "acks=2"),
    ({"request.required.acks": 1}, "request.required.acks=1"),
    ({"topic.request.required.acks": "0"}, "topic.request.required.acks=0"),
    ({"enable.idempotence": False}, "enable.idempotence=False"),
    ({"enable.idempotence": "false"}, "enable.idempotence=false"),
    ({**producer_config("127.0.0.1:9092"), "acks": "1"}, "acks=1"),
])
def test_weakened_configurations_are_refused_naming_the_key_and_the_source(
        config: dict[str, Any], named: str) -> None:
    with pytest.raises(WeakDurabilityError, match=r"client\.properties sets ") as refused:
        refuse_weakened_durability(config, where="client.properties")
    assert named in str(refused.value) and "remove the setting" in str(refused.value)


@pytest.mark.parametrize("weak", [{"acks": "1"}, {"acks": "2"}, {"enable.idempotence": "false"},
                                  {"topic.request.required.acks": "0"}])
def test_the_client_seam_refuses_them_through_this_rule(weak: dict[str, str]) -> None:
    with pytest.raises(DurabilityError, match="BACKBONE_KAFKA_CONFIG"):
        KafkaClients("127.0.0.1:9092").producer(**weak)
