"""``acls apply``: make a cluster's ACLs match the plan, through the Kafka Admin API.

Idempotent: bindings already present are left alone. ``prune`` deletes the ALLOW bindings of
backbone's principals that the plan no longer implies; bindings of other principals, DENY
bindings and host-restricted ones are never touched (they are someone else's decision).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    ResourcePatternType,
    ResourceType,
)

from backbone.acls import Binding, principals

# librdkafka calls Kafka's CLUSTER resource BROKER; the plan uses Kafka's (and kafka-acls') name.
_TO_LIBRDKAFKA = {"CLUSTER": "BROKER"}
_FROM_LIBRDKAFKA = {"BROKER": "CLUSTER"}


class AclError(RuntimeError):
    """The cluster's ACLs could not be read or changed at all; ``str()`` says why."""


@dataclass(frozen=True)
class AclChange:
    """What ``apply`` did with one binding."""

    action: str  # created | unchanged | deleted | failed
    binding: Binding
    detail: str = ""


def to_kafka(binding: Binding) -> AclBinding:
    resource_type = _TO_LIBRDKAFKA.get(binding.resource_type, binding.resource_type)
    return AclBinding(ResourceType[resource_type], binding.resource,
                      ResourcePatternType[binding.pattern], binding.principal, "*",
                      AclOperation[binding.operation], AclPermissionType.ALLOW)


def from_kafka(acl: AclBinding) -> Binding | None:
    """The binding, or None for what backbone never writes (DENY, a host other than ``*``)."""
    if acl.permission_type != AclPermissionType.ALLOW or acl.host != "*":
        return None
    resource_type = _FROM_LIBRDKAFKA.get(acl.restype.name, acl.restype.name)
    return Binding(acl.principal, resource_type, acl.resource_pattern_type.name, acl.name,
                   acl.operation.name)


def current(admin: AdminClient, timeout_s: float = 15.0) -> set[Binding]:
    """Every ALLOW-from-any-host binding on the cluster."""
    everything = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None,
                                  AclOperation.ANY, AclPermissionType.ANY)
    try:
        found = admin.describe_acls(everything, request_timeout=timeout_s).result(
            timeout=timeout_s)
    except KafkaException as error:
        raise AclError(_reason(error)) from None
    return {binding for acl in found if (binding := from_kafka(acl)) is not None}


def apply(admin: AdminClient, wanted: Iterable[Binding], *, prune: bool = False,
          timeout_s: float = 15.0) -> list[AclChange]:
    """Create the missing bindings of ``wanted`` (and with ``prune`` delete backbone's others)."""
    plan = sorted(set(wanted))
    present = current(admin, timeout_s)
    missing = [binding for binding in plan if binding not in present]
    changes = [AclChange("unchanged", binding) for binding in plan if binding in present]
    if missing:
        futures = admin.create_acls([to_kafka(binding) for binding in missing],
                                    request_timeout=timeout_s)
        for binding, future in zip(missing, futures.values(), strict=True):
            try:
                future.result(timeout=timeout_s)
                changes.append(AclChange("created", binding))
            except KafkaException as error:
                changes.append(AclChange("failed", binding, _reason(error)))
    if prune:
        ours = {f"User:{name}" for name in principals()}
        stale = sorted(b for b in present - set(plan) if b.principal in ours)
        for binding in stale:
            acl = to_kafka(binding)
            exact = AclBindingFilter(acl.restype, acl.name, acl.resource_pattern_type,
                                     acl.principal, acl.host, acl.operation, acl.permission_type)
            try:
                admin.delete_acls([exact], request_timeout=timeout_s)[exact].result(
                    timeout=timeout_s)
                changes.append(AclChange("deleted", binding))
            except KafkaException as error:
                changes.append(AclChange("failed", binding, _reason(error)))
    order = {"failed": 0, "deleted": 1, "created": 2, "unchanged": 3}
    return sorted(changes, key=lambda change: (order[change.action], change.binding))


def _reason(error: KafkaException) -> str:
    kafka_error = error.args[0] if error.args else None
    if not isinstance(kafka_error, KafkaError):
        return str(error)
    text: str = kafka_error.str()
    if "AUTHORIZATION" in kafka_error.name():
        text += " (acls apply needs a principal allowed to ALTER the cluster: the admin)"
    return text
