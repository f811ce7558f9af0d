"""Durability of what backbone writes: replication of topics, and producers that wait for it.

An acknowledged event must survive a broker dying. Per topic that means a replication factor
of ``min(3, brokers)``, ``min.insync.replicas = RF - 1`` (at least 1) so one replica may be
down without stopping writes, and no unclean leader election (an out-of-sync replica never
becomes leader and silently drops acknowledged records). Per producer it means ``acks=all``
and idempotence; a configuration that weakens either is refused, never silently used.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DEFAULT_REPLICATION_FACTOR = 3

# librdkafka spells acks three ways; all of them mean the same setting
_ACKS_KEYS = ("acks", "request.required.acks", "topic.request.required.acks")
_ALL_ACKS = {"all", "-1"}


class WeakDurabilityError(ValueError):
    """A client configuration that would acknowledge events Kafka may still lose."""


@dataclass(frozen=True)
class Durability:
    """How one topic is replicated on a cluster of a given size."""

    replication_factor: int
    min_insync_replicas: int

    def config(self) -> dict[str, str]:
        """The topic configs that go with the replication factor."""
        return {
            "min.insync.replicas": str(self.min_insync_replicas),
            "unclean.leader.election.enable": "false",
        }


def durability_for(brokers: int, wanted: int = DEFAULT_REPLICATION_FACTOR) -> Durability:
    """``wanted`` replicas capped by the cluster's size; min ISR one less (at least 1)."""
    if brokers < 1:
        raise ValueError(f"a cluster has at least one broker, got {brokers}")
    replication_factor = max(1, min(wanted, brokers))
    return Durability(replication_factor, max(1, replication_factor - 1))


def refuse_weakened_durability(config: Mapping[str, Any],
                               where: str = "the producer configuration") -> None:
    """Raise WeakDurabilityError when ``config`` (librdkafka keys) lowers acks below ``all``
    or turns idempotence off; ``where`` names the source in the message (e.g. a file)."""
    for key in _ACKS_KEYS:
        if key in config and str(config[key]).strip().lower() not in _ALL_ACKS:
            raise WeakDurabilityError(
                f"{where} sets {key}={config[key]}: backbone producers use acks=all so that "
                "an acknowledged event is on every in-sync replica; remove the setting")
    if "enable.idempotence" in config and not _is_true(config["enable.idempotence"]):
        raise WeakDurabilityError(
            f"{where} sets enable.idempotence={config['enable.idempotence']}: backbone "
            "producers are idempotent so that a retry never duplicates or reorders an event; "
            "remove the setting")


def _is_true(value: Any) -> bool:
    return value is True or str(value).strip().lower() == "true"
