"""backbone/acls.py: the plan is exactly what the catalog implies, and nothing more."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from backbone import acls
from backbone.topics import CATALOG, CONNECTORS, PROCESSORS, Topic, ValueFormat


def _topic_ops(plan: list[acls.Binding], principal: str, topic: str) -> set[str]:
    return {b.operation for b in plan if b.principal == f"User:{principal}"
            and b.resource_type == "TOPIC" and b.pattern == "LITERAL" and b.resource == topic}


def test_every_produced_and_consumed_pair_has_exactly_its_topic_bindings() -> None:
    plan = acls.plan()
    principals = [p for p in acls.principals() if p != acls.ADMIN]
    for topic in CATALOG:
        writers = {p for party in topic.producers for p in acls.roles_of(party, topic.name)}
        readers = {p for party in topic.consumers for p in acls.roles_of(party, topic.name)}
        for principal in principals:
            expected = set()
            if principal in writers:
                expected |= {"WRITE", "DESCRIBE"}
            if principal in readers:
                expected |= {"READ", "DESCRIBE"}
            if expected and principal in PROCESSORS:
                expected.add("DESCRIBE_CONFIGS")  # Quix sizes its internal topics from these
            assert _topic_ops(plan, principal, topic.name) == expected, (principal, topic.name)


def test_the_catalog_parties_map_to_the_expected_principals() -> None:
    plan = acls.plan()
    # spot checks written out by hand from topics.py
    assert _topic_ops(plan, "edi-x12", "procurement.supplier-ack.v1") == {"WRITE", "DESCRIBE"}
    assert _topic_ops(plan, "wms-feed", "procurement.supplier-ack.v1") == set()
    assert _topic_ops(plan, "order-fulfillment", "procurement.asn.v1") == {
        "READ", "DESCRIBE", "DESCRIBE_CONFIGS"}
    assert _topic_ops(plan, "operator", "shipment-status.dlq.v1") == {"READ", "DESCRIBE"}
    assert _topic_ops(plan, "operator", "shipment-status.retry.v1") == {
        "READ", "WRITE", "DESCRIBE"}
    assert _topic_ops(plan, "operator", "procurement.purchase-order.v1") == set()
    assert _topic_ops(plan, "iceberg-sink", "inventory.position.v1") == {"READ", "DESCRIBE"}
    assert _topic_ops(plan, "iceberg-sink", "shipment-status.dlq.v1") == set()
    assert _topic_ops(plan, "iceberg-sink", "iceberg-sink.dlq.v1") == {"WRITE", "DESCRIBE"}
    assert _topic_ops(plan, "operator", "backbone.replay-audit.v1") == {"READ", "WRITE",
                                                                        "DESCRIBE"}
    for connector in CONNECTORS:
        assert _topic_ops(plan, connector, "backbone.connect-offsets.v1") == {
            "READ", "WRITE", "DESCRIBE"}


def test_no_wildcard_and_no_prefixed_grant_on_catalog_topics() -> None:
    plan = acls.plan()
    assert all(b.resource not in ("*", "") for b in plan)
    assert all(b.principal != "User:*" for b in plan)
    assert not any(b.principal == f"User:{acls.ADMIN}" for b in plan)  # a super user
    prefixed_topics = {b.resource for b in plan if b.resource_type == "TOPIC"
                       and b.pattern == "PREFIXED"}
    assert prefixed_topics == {f"{kind}__backbone.{p}--" for p in PROCESSORS
                               for kind in ("changelog", "repartition")}
    catalog_names = {t.name for t in CATALOG}
    assert not any(name.startswith(p) for p in prefixed_topics for name in catalog_names)


def test_groups_transactions_and_cluster_grants() -> None:
    plan = acls.plan(group_prefix="staging.")
    by = {(b.principal, b.resource_type, b.pattern, b.resource, b.operation) for b in plan}
    for processor in PROCESSORS:
        user = f"User:{processor}"
        assert (user, "GROUP", "LITERAL", f"staging.{processor}", "READ") in by
        assert (user, "TRANSACTIONAL_ID", "PREFIXED", f"staging.{processor}-", "WRITE") in by
        assert (user, "CLUSTER", "LITERAL", "kafka-cluster", "IDEMPOTENT_WRITE") in by
    assert ("User:operator", "GROUP", "PREFIXED", "backbone-dlq-", "READ") in by
    assert not any(r[1] == "TRANSACTIONAL_ID" for r in by if r[0] == "User:edi-x12")
    assert {r[1] for r in by if r[0] == "User:operator"} == {"TOPIC", "GROUP", "CLUSTER"}


def test_a_topic_prefix_renames_every_topic_grant() -> None:
    plain = acls.plan()
    staged = acls.plan(topic_prefix="staging")
    literal = [b for b in staged if b.resource_type == "TOPIC" and b.pattern == "LITERAL"]
    assert literal and all(b.resource.startswith("staging.") for b in literal)
    assert len(staged) == len(plain)


def test_an_unknown_party_in_the_catalog_is_named() -> None:
    stray = dataclasses.replace(CATALOG[0], producers=("billing-robot",))
    with pytest.raises(ValueError, match=re.escape(
            "procurement.purchase-order.v1 names 'billing-robot'")):
        acls.plan([stray])


def test_external_consumers_get_nothing() -> None:
    downstream = Topic("x.v1", "x", ValueFormat.JSON, consumers=("downstream systems",))
    assert [b for b in acls.plan([downstream]) if b.resource == "x.v1"] == []


def test_plan_command_is_stable_and_its_json_matches_the_table() -> None:
    backbone = str(Path(sys.executable).with_name("backbone"))
    first = subprocess.run([backbone, "acls", "plan"], capture_output=True, text=True,
                           check=True).stdout
    again = subprocess.run([backbone, "acls", "plan"], capture_output=True, text=True,
                           check=True).stdout
    assert first == again == acls.table(acls.plan())
    lines = subprocess.run([backbone, "acls", "plan", "--json"], capture_output=True,
                           text=True, check=True).stdout.splitlines()
    assert [acls.Binding(**json.loads(line)) for line in lines] == acls.plan()
