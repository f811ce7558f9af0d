"""Least-privilege ACLs per component principal, derived from the topic catalog (pure).

The catalog already says who produces and who consumes each topic; :func:`plan` turns that into
the exact Kafka ACL bindings each principal needs, and nothing else:

- a producer: WRITE + DESCRIBE on each topic it produces, IDEMPOTENT_WRITE on the cluster
  (backbone's producers are idempotent; brokers before 3.0 ask for it explicitly);
- a consumer: READ + DESCRIBE on each topic it consumes, READ on its consumer group(s) (the
  Iceberg sink has none: it assigns partitions and keeps its offsets in its tables);
- a processor also: WRITE + DESCRIBE on its transactional ids (prefix ``<group>-``), and
  CREATE / READ / WRITE / DESCRIBE / DESCRIBE_CONFIGS on its own internal topics (Quix's
  ``changelog__<group>--`` and ``repartition__<group>--`` prefixes); DESCRIBE_CONFIGS on its
  inputs and outputs, which Quix inspects to size those internal topics;
- the operator (``backbone dlq``): what the catalog gives "backbone dlq" / "operators";
- the admin is a super user of the cluster (``super.users``) and gets no ACLs.

Topic grants are always LITERAL names from the catalog; only groups, transactional ids and a
processor's internal topics use PREFIXED patterns, each ending in a separator so that
``order-fulfillment`` never matches ``order-fulfillment-v2``'s resources.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass

from backbone.topics import CATALOG, CONNECTORS, PROCESSORS, SINKS, Topic

ADMIN = "admin"
OPERATOR = "operator"
CLUSTER = "kafka-cluster"
# Connectors read their offsets topic with a throwaway group (connectors/offsets.py).
OFFSETS_READER_GROUP_PREFIX = "backbone-offsets-reader-"
# `backbone dlq` reads with backbone-dlq-read-<id> and checkpoints replays in
# backbone-dlq-replay-<processor> (processors/dlq/).
OPERATOR_GROUP_PREFIX = "backbone-dlq-"
DEFAULT_GROUP_PREFIX = "backbone."

# How the catalog names the parties of a topic -> the principals that act for them. Names
# outside backbone ("downstream systems") get no ACLs from us: their owners grant them.
_EXTERNAL = frozenset({"downstream systems"})
_ROLES: dict[str, tuple[str, ...]] = {
    **{name: (name,) for name in CONNECTORS},
    **{name: (name,) for name in PROCESSORS},
    **{name.replace("-", "_"): (name,) for name in PROCESSORS},
    **{name: (name,) for name in SINKS},
    "connectors": CONNECTORS,
    "backbone dlq": (OPERATOR,),
    "backbone dlq replay": (OPERATOR,),
    "operators": (OPERATOR,),
}


def principals() -> tuple[str, ...]:
    """Every principal of backbone, admin included: one SCRAM user and certificate each."""
    return (ADMIN, OPERATOR, *CONNECTORS, *PROCESSORS, *SINKS)


@dataclass(frozen=True, order=True)
class Binding:
    """One ALLOW ACL: ``principal`` may ``operation`` on the resource, from any host."""

    principal: str  # "User:<name>"
    resource_type: str  # TOPIC | GROUP | TRANSACTIONAL_ID | CLUSTER
    pattern: str  # LITERAL | PREFIXED
    resource: str
    operation: str  # READ | WRITE | DESCRIBE | CREATE | DESCRIBE_CONFIGS | IDEMPOTENT_WRITE

    def row(self) -> str:
        return (f"{self.principal:<28} {self.resource_type:<16} {self.pattern:<9} "
                f"{self.resource:<48} {self.operation}")

    def to_json(self) -> str:
        return json.dumps(asdict(self))


HEADER = (f"{'principal':<28} {'resource':<16} {'pattern':<9} {'name':<48} operation")


def roles_of(party: str, topic_name: str) -> tuple[str, ...]:
    """The principals acting as ``party`` of ``topic_name``; ValueError for an unknown party."""
    if party in _EXTERNAL:
        return ()
    try:
        return _ROLES[party]
    except KeyError:
        raise ValueError(
            f"topic catalog: {topic_name} names {party!r} as producer or consumer, which is "
            f"no principal of backbone; add it to _ROLES in backbone/acls.py (known: "
            f"{', '.join(sorted(_ROLES))}) or to _EXTERNAL if it is outside backbone"
        ) from None


def plan(catalog: Iterable[Topic] = CATALOG, *, topic_prefix: str = "",
         group_prefix: str = DEFAULT_GROUP_PREFIX) -> list[Binding]:
    """The sorted, duplicate-free bindings the catalog implies.

    ``topic_prefix`` ("staging" -> "staging.<name>") and ``group_prefix`` mirror the processors'
    settings, so a side-by-side deployment gets its own grants.
    """
    found: set[Binding] = set()

    def grant(name: str, resource_type: str, pattern: str, resource: str,
              *operations: str) -> None:
        found.update(Binding(f"User:{name}", resource_type, pattern, resource, operation)
                     for operation in operations)

    def topic_name(topic: Topic) -> str:
        return f"{topic_prefix}.{topic.name}" if topic_prefix else topic.name

    for topic in catalog:
        name = topic_name(topic)
        for party in topic.producers:
            for principal in roles_of(party, topic.name):
                grant(principal, "TOPIC", "LITERAL", name, "WRITE", "DESCRIBE")
                grant(principal, "CLUSTER", "LITERAL", CLUSTER, "IDEMPOTENT_WRITE")
                if principal in PROCESSORS:
                    grant(principal, "TOPIC", "LITERAL", name, "DESCRIBE_CONFIGS")
        for party in topic.consumers:
            for principal in roles_of(party, topic.name):
                grant(principal, "TOPIC", "LITERAL", name, "READ", "DESCRIBE")
                if principal in PROCESSORS:
                    grant(principal, "TOPIC", "LITERAL", name, "DESCRIBE_CONFIGS")
    for connector in CONNECTORS:
        grant(connector, "GROUP", "PREFIXED", OFFSETS_READER_GROUP_PREFIX, "READ")
    grant(OPERATOR, "GROUP", "PREFIXED", OPERATOR_GROUP_PREFIX, "READ")
    for processor in PROCESSORS:
        group = f"{group_prefix}{processor}"
        grant(processor, "GROUP", "LITERAL", group, "READ")
        grant(processor, "TRANSACTIONAL_ID", "PREFIXED", f"{group}-", "WRITE", "DESCRIBE")
        for kind in ("changelog", "repartition"):
            grant(processor, "TOPIC", "PREFIXED", f"{kind}__{group}--",
                  "CREATE", "READ", "WRITE", "DESCRIBE", "DESCRIBE_CONFIGS")
    return sorted(found)


def table(bindings: Iterable[Binding]) -> str:
    """The plan as ``acls plan`` prints it: a header and one line per binding, sorted."""
    return "\n".join([HEADER, *(binding.row().rstrip() for binding in sorted(bindings))]) + "\n"
