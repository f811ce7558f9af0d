"""`backbone dlq replay` for a connector's dead letter, on the real broker and registry.

A WMS movement with a reason code the mapping does not know is dead-lettered by the running
connector; the dry-run says it still fails; the mapping learns the code (as a release would
ship it); the dry-run shows the event it now yields; replay publishes it once, with the
idempotency key the connector would have given it; a second replay skips it; both are audited.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from backbone.events import AdjustmentReason
from backbone.headers import EVENT_ID, as_dict
from backbone.registry import SchemaRegistry
from backbone.serde import AvroSerde
from connectors.wms_feed import mapping as wms_mapping
from connectors.wms_feed.connector import WmsFeedConnector
from processors.dlq.cli import app as dlq
from tests.conftest import TopicFactory
from tests.integration.conftest import consume, run_connector_once

pytestmark = pytest.mark.integration


@pytest.fixture
def serde(registry_url: str) -> Iterator[AvroSerde]:
    with SchemaRegistry(registry_url) as registry:
        yield AvroSerde(registry)

CSV = ("record_type,record_id,occurred_at,site,sku,qty,uom,movement_type,reason\n"
       "MOVEMENT,MOV-77,2026-03-02T10:00:00Z,DC-ATL-01,SKU-77,-2,EA,ADJUSTMENT,XQ\n")


def test_a_connector_dead_letter_replays_through_the_current_mapping(
        bootstrap_servers: str, registry_url: str, serde: AvroSerde,
        topic_factory: TopicFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", bootstrap_servers)
    monkeypatch.setenv("SCHEMA_REGISTRY_URL", registry_url)
    dead_letters, audit, movements = topic_factory(1), topic_factory(1), topic_factory(1)
    inbox = tmp_path / "wms"
    inbox.mkdir()
    (inbox / "moves.csv").write_text(CSV)
    run_connector_once(WmsFeedConnector(inbox, dead_letter_topic=dead_letters), bootstrap_servers,
                   serde, topic_factory)
    runner = CliRunner()
    common = ["--topic", dead_letters, "--audit-topic", audit, "--json"]

    def replay(*args: str) -> list[dict[str, Any]]:
        result = runner.invoke(dlq, ["replay", *common, *args])
        assert result.exit_code == 0, (result.stdout, result.stderr)
        return [json.loads(line) for line in result.stdout.splitlines()]

    [before] = replay("--dry-run")
    assert not before["succeeds"]
    assert str(before["verdict"]).startswith("still fails: UNKNOWN_CODE: moves.csv row 2: "
                                             "reason 'XQ'")

    monkeypatch.setitem(wms_mapping.REASON_CODES, "XQ", AdjustmentReason.DAMAGE)
    [after] = replay("--dry-run")
    assert after["succeeds"] and after["verdict"] == "would publish 1 event(s)"
    [event] = after["events"]
    assert (event["event_type"], event["reason"], event["idempotency_key"]) == (
        "InventoryMovement", "DAMAGE", "wms:movement:MOV-77:SKU-77")
    assert consume(bootstrap_servers, movements, idle_s=1) == []  # the dry run published nothing

    route = ["--route", f"InventoryMovement={movements}"]
    [done] = replay("--yes", *route)
    assert done["counts"] == {"selected": 1, "replayed": 1, "skipped_already_replayed": 0,
                              "parked": 0, "failed": 0}
    [published] = consume(bootstrap_servers, movements, expect=1)
    assert as_dict(published.headers())[EVENT_ID] == event["event_id"]
    [again] = replay("--yes", *route)
    assert again["counts"]["skipped_already_replayed"] == 1
    assert len(consume(bootstrap_servers, movements, idle_s=1)) == 1

    trail = [json.loads(m.value()) for m in consume(bootstrap_servers, audit, expect=2)]
    assert [(e["processor"], e["counts"]["replayed"]) for e in trail] == [("wms-feed", 1),
                                                                         ("wms-feed", 0)]
    assert trail[0]["records"] == {dead_letters: {"0": [[0, 0]]}}
