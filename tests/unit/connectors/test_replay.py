"""A source-side dead letter read again yields what the connector yields (pure)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from backbone.dead_letters import DeadLetter, Stage, format_time
from backbone.errors import Category
from backbone.events import AdjustmentReason
from connectors.carrier_webhooks.publishing import Archived, RawWebhook
from connectors.carriers import parse
from connectors.erp_outbox.mapping import OutboxRow
from connectors.replay import StillFails, replayable, reread
from connectors.wms_feed import mapping as wms_mapping

AT = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
COLUMNS = "record_type,record_id,occurred_at,site,sku,qty,uom,movement_type,reason"
ROW = "MOVEMENT,MOV-1,2026-03-02T10:00:00Z,DC-ATL-01,SKU-1,-2,EA,ADJUSTMENT,XQ"


def _wms() -> DeadLetter:
    return DeadLetter(stage="connector", owner="wms-feed", category="UNKNOWN_CODE", message="x",
                      source={"file": "moves.csv", "row": "2", "columns": COLUMNS,
                              "instance": "wms-atl"})


def test_a_wms_row_still_fails_until_the_mapping_knows_its_code(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert replayable(_wms())
    with pytest.raises(StillFails, match=r"moves\.csv row 2: reason .XQ.") as failure:
        reread(_wms(), ROW.encode(), recorded_at=AT)
    assert failure.value.category is Category.UNKNOWN_CODE
    monkeypatch.setitem(wms_mapping.REASON_CODES, "XQ", AdjustmentReason.DAMAGE)
    [event] = reread(_wms(), ROW.encode(), recorded_at=AT)
    direct = wms_mapping.map_row(dict(zip(COLUMNS.split(","), ROW.split(","), strict=True)),
                                 instance="wms-atl", source_ref="moves.csv:2", recorded_at=AT)
    assert (event.event_id, event.idempotency_key) == (direct.event_id, direct.idempotency_key)


def test_an_outbox_row_is_mapped_from_the_json_the_relay_dead_lettered() -> None:
    payload = {"sku": "SKU-1", "location": "DC-ATL-01", "uom": "EA",
               "as_of": "2026-03-02T06:00:00Z", "quantities": {"ON_HAND": "5"}}
    row = OutboxRow(seq=7, id="row-7", aggregatetype="Stock", aggregateid="SKU-1@DC-ATL-01",
                    type="StockSnapshot", payload=json.dumps(payload), created_at=AT)
    record = DeadLetter(stage="connector", owner="erp-outbox", category="UNKNOWN_CODE",
                        message="x", source={"outbox_id": "row-7", "instance": "erp"})
    [event] = reread(record, row.as_json(), recorded_at=AT)
    assert event.idempotency_key == "erp:outbox:row-7"
    broken = json.loads(row.as_json())
    broken["type"] = "StockTaken"
    with pytest.raises(StillFails, match="unknown type 'StockTaken'"):
        reread(record, json.dumps(broken).encode(), recorded_at=AT)
    with pytest.raises(StillFails, match="not the outbox row"):
        reread(record, b"{}", recorded_at=AT)


def test_a_webhook_body_is_parsed_as_received() -> None:
    body = json.dumps({"object": "Tracker", "tracking_code": "1Z999", "carrier": "UPS",
                       "tracking_details": [{"status": "in_transit", "message": "Departed",
                                             "datetime": "2024-05-06T10:00:00Z"}]}).encode()
    raw = RawWebhook("msg_1", "easypost", "application/json", AT, body)
    record = raw.dead_letter(ValueError("parser bug"), Archived("archive", 0, 4))
    assert record.stage == Stage.WEBHOOK and record.source["received_at"] == format_time(
        int(AT.timestamp() * 1000))
    [event] = reread(record, body)
    [direct] = parse("easypost", body, name="x", recorded_at=AT).events
    assert (event.event_id, event.recorded_at) == (direct.event_id, AT)
    with pytest.raises(StillFails, match="not JSON"):
        reread(record, body[:20])


def test_a_processor_dead_letter_is_not_read_here() -> None:
    record = DeadLetter(stage="processor", owner="shipment-status", category="UNKNOWN_CODE",
                        message="x", original_topic="raw.v1")
    assert not replayable(record)
    with pytest.raises(StillFails, match="cannot be read again here"):
        reread(record, b"")
