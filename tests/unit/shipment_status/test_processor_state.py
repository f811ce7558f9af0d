"""The processor's state survives the trip through JSON (as the engine stores it) unchanged."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from backbone.events.logistics import RawStatus, RawStatusSource, ShipmentMilestone
from backbone.samples import sample_shipment_milestone
from processors.shipment_status import apply, load_mappings
from processors.shipment_status.processor import STATUS_TOPIC, handle

MAPPINGS = load_mappings()
T0 = datetime(2024, 5, 14, 8, 0, tzinfo=UTC)


def _event(code: str, minute: int) -> ShipmentMilestone:
    return sample_shipment_milestone(
        1, carrier="ODFL", tracking_number="PRO123",
        raw_status=RawStatus(source=RawStatusSource.X12_214, code=code, reason_code="NS"),
        event_time=T0 + timedelta(minutes=minute), eta=None, appointment=None)


def _stored(state: dict[str, Any]) -> dict[str, Any]:
    """What the engine writes (orjson, UTC as Z) and what Quix's state.get reads back."""
    return orjson.loads(orjson.dumps(state, option=orjson.OPT_UTC_Z))  # type: ignore[no-any-return]


def test_each_status_equals_the_one_built_in_memory_across_the_json_state() -> None:
    codes = ["AF", "X6", "X6", "AG", "SD", "X1", "D1"]
    stored: dict[str, Any] | None = None
    status, memory = None, None
    for minute, code in enumerate(codes):
        event = _event(code, minute * 7)
        expected = apply(status, event, MAPPINGS, memory)
        status, memory = expected.status, expected.memory
        new_state, outputs = handle(MAPPINGS, "ODFL:PRO123", "raw", event, stored)
        assert new_state is not None
        if expected.duplicate:
            assert outputs == []
        else:
            assert outputs == [(STATUS_TOPIC, expected.status)]
            assert outputs[0][1].to_avro() == expected.status.to_avro()
        stored = _stored(new_state)
    assert stored is not None
    assert "warnings" not in stored["status"]  # fields at their default are left out
