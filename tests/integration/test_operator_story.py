"""The operator story on the real stack (issue 8, item 4), on fresh topics.

An unmapped carrier code lands in the dead-letter topic; the operator writes a mapping override
file and names it in backbone.env (read by `backbone process` and `backbone dlq` alike); the
dry-run predicts success; replay; the normalized status appears exactly once, also
when the replay is run twice; the audit topic has the record.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient
from typer.testing import CliRunner

from backbone.samples import sample_shipment_milestone
from backbone.settings import load_settings
from processors.api import package
from processors.dlq.cli import app as dlq
from processors.shipment_status import processor as shipment_status
from tests.conftest import TopicFactory
from tests.reliability.processor_harness import (
    decoded,
    fresh_topics,
    options,
    produce_events,
    read_committed,
    run_until_idle,
    serde_for,
)

pytestmark = pytest.mark.integration

RAW = "logistics.shipment-milestone.raw.v1"
STATUS = "logistics.shipment-status.v1"


def test_unmapped_code_fixed_by_override_and_replayed_exactly_once(
        bootstrap_servers: str, registry_url: str, admin: AdminClient, tmp_path: Path,
        topic_factory: TopicFactory, monkeypatch: pytest.MonkeyPatch,
        request: pytest.FixtureRequest) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", bootstrap_servers)
    monkeypatch.setenv("SCHEMA_REGISTRY_URL", registry_url)
    monkeypatch.delenv(shipment_status.MAPPINGS_ENV, raising=False)
    config = tmp_path / "backbone.env"  # written once the operator has an override
    monkeypatch.setenv("BACKBONE_CONFIG", str(config))
    topics = fresh_topics(admin, shipment_status.SPEC)
    prefix = topics.name(RAW)[: -len(RAW) - 1]
    audit_topic = topic_factory(1)
    serde = serde_for(registry_url)
    request.addfinalizer(serde.registry.close)
    first = sample_shipment_milestone(3)
    unknown = first.model_copy(update={"raw_status": first.raw_status.model_copy(
        update={"code": "ZZ-NEW-CODE"})})
    produce_events(bootstrap_servers, serde, topics, RAW, [unknown])
    engine = options(bootstrap_servers, topics, tmp_path / "state", group="story-processor")

    def run_processor() -> None:
        # what `backbone process` runs: the processor bound to the settings of the moment
        run_until_idle(package("shipment-status").logic(load_settings()), serde, engine)

    run_processor()
    letters = read_committed(bootstrap_servers, topics.name("shipment-status.dlq.v1"), expect=1)
    assert [r.headers["backbone.dlq.category"] for r in letters] == [b"UNKNOWN_CODE"]
    assert read_committed(bootstrap_servers, topics.name(STATUS), idle_s=1.0) == []

    runner = CliRunner()
    common = ["--processor", "shipment-status", "--topic-prefix", prefix,
              "--audit-topic", audit_topic]

    def cli(*args: str) -> str:
        result = runner.invoke(dlq, [*args, *common])
        assert result.exit_code == 0, result.stderr
        return result.stdout

    before = json.loads(cli("replay", "--dry-run", "--json"))
    assert not before["succeeds"] and before["verdict"].startswith("still fails: UNKNOWN_CODE")

    override = tmp_path / "overrides.yaml"
    override.write_text('UPS:\n  "ZZ-NEW-CODE": DELIVERED\n')
    config.write_text(f"BACKBONE_STATUS_MAPPINGS={override}\n")
    after = json.loads(cli("replay", "--dry-run", "--json"))
    assert after["succeeds"] and after["verdict"] == "would succeed"
    assert read_committed(bootstrap_servers, topics.name("shipment-status.retry.v1"),
                          idle_s=1.0) == []  # the dry run produced nothing

    replayed = json.loads(cli("replay", "--yes", "--json"))
    assert replayed["counts"]["replayed"] == 1
    run_processor()
    again = json.loads(cli("replay", "--yes", "--json"))
    assert again["counts"] == {"selected": 1, "replayed": 0, "skipped_already_replayed": 1,
                               "parked": 0, "failed": 0}
    run_processor()

    statuses = decoded(serde, topics, STATUS, read_committed(
        bootstrap_servers, topics.name(STATUS), expect=1))
    assert [(s.carrier, s.tracking_number, s.milestone.value) for s in statuses] == [
        (unknown.carrier, unknown.tracking_number, "DELIVERED")]
    audit = read_committed(bootstrap_servers, audit_topic, expect=2)
    events = [json.loads(r.value or b"") for r in audit]
    assert events[0]["replay_id"] == replayed["replay_id"]
    assert events[0]["counts"]["replayed"] == 1 and events[0]["processor"] == "shipment-status"
