"""214 -> ShipmentMilestone (status vs ETA vs appointment, time codes to UTC) and 945."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from backbone.events import (
    EventTimePrecision,
    InventoryMovement,
    MovementType,
    RawStatusSource,
    ShipmentMilestone,
)
from connectors.edi_x12.mapping.shipment_status import zone_for
from tests.unit.edi_x12.x12_samples import build, map_bytes, map_corpus


def milestones(corpus_dir: Path, name: str) -> list[ShipmentMilestone]:
    found = [e for _, events in map_corpus(corpus_dir / name) for e in events]
    assert all(isinstance(e, ShipmentMilestone) for e in found)
    return found  # type: ignore[return-value]


def test_ellipsis_terminated_214_eta_and_departure_in_eastern_daylight(corpus_dir: Path) -> None:
    eta, departed = milestones(corpus_dir, "staedi__ts214_ellipses_segterm.edi")
    assert (departed.carrier, departed.tracking_number) == ("XXXX", "0542550913")
    # AT7*AF*NS***20200910*1135*ET: September, EDT (UTC-4).
    assert departed.raw_status.code == "AF" and departed.raw_status.reason_code == "NS"
    assert departed.raw_status.source is RawStatusSource.X12_214
    assert departed.event_time == datetime(2020, 9, 10, 15, 35, tzinfo=UTC)
    assert departed.event_time_offset_minutes == -240
    assert departed.event_time_precision is EventTimePrecision.EXACT
    assert departed.eta is None
    assert departed.lading is not None and departed.lading.weight is not None
    assert (departed.lading.weight.value, departed.lading.weight.uom) == (2085, "LB")
    assert departed.lading.quantity is not None and departed.lading.quantity.value == 5
    # AT7*AG*NS***20200911*1159*ET: an ETA, not a status.
    assert eta.raw_status.code == "AG"
    assert eta.eta == datetime(2020, 9, 11, 15, 59, tzinfo=UTC)
    assert eta.event_time == datetime(2020, 9, 10, 19, 30, tzinfo=UTC)  # GS date/time
    assert departed.correlation.po_number == "900169"
    assert departed.correlation.bol == "7727019"


def test_214_with_appointments_and_pacific_standard_times(corpus_dir: Path) -> None:
    events = milestones(corpus_dir, "x12-types__test_214__parse_214_1.edi")
    assert len(events) == 18
    assert {e.tracking_number for e in events} == {"995551"}
    assert {e.carrier for e in events} == {"XXXX"}
    first_stop = [e for e in events if e.stop_sequence == 1]
    codes = [e.raw_status.code for e in first_stop]
    assert codes == ["AA", "X3", "CP", "AB", "X1", "D1"]
    pickup_appointment = first_stop[0]
    assert pickup_appointment.appointment is not None
    assert pickup_appointment.appointment.type_raw == "AA"
    # 20111217 0830 PS (Pacific Standard, UTC-8).
    assert pickup_appointment.appointment.start == datetime(2011, 12, 17, 16, 30, tzinfo=UTC)
    assert pickup_appointment.eta is None
    delivered = first_stop[-1]
    assert delivered.event_time == datetime(2011, 12, 22, 15, 45, tzinfo=UTC)
    assert delivered.event_time_offset_minutes == -480
    third_delivered = [e for e in events if e.stop_sequence == 3][-1]
    assert third_delivered.event_time == datetime(2011, 12, 19, 12, 30, tzinfo=UTC)
    assert len({e.event_id for e in events}) == 18


def test_214_second_set_local_time_assumed_utc(corpus_dir: Path) -> None:
    # The first set of the file is rejected (SE02 '001 N/L'); the second maps.
    (delivered,) = milestones(corpus_dir, "x12-types__test_214__parse_214_2.edi")
    assert (delivered.carrier, delivered.tracking_number) == ("SCAC", "1234567")
    assert delivered.raw_status.code == "D1"
    assert delivered.event_time == datetime(2006, 3, 1, 16, 30, tzinfo=UTC)
    assert delivered.event_time_precision is EventTimePrecision.LOCAL_TIME_ASSUMED_UTC
    assert delivered.lading is not None and delivered.lading.weight is not None
    assert delivered.lading.weight.value == 351


@pytest.mark.parametrize(
    ("code", "day", "expected_utc_hour"),
    [("ET", date(2024, 1, 15), 17), ("ET", date(2024, 7, 15), 16), ("CT", date(2024, 3, 9), 18),
     ("CT", date(2024, 3, 11), 17), ("PD", date(2024, 1, 15), 19), ("PS", date(2024, 7, 15), 20),
     ("MT", date(2024, 7, 15), 18), ("HT", date(2024, 7, 15), 22), ("UT", date(2024, 7, 15), 12),
     ("GM", date(2024, 1, 15), 12), ("AT", date(2024, 7, 15), 15)],
)
def test_time_codes_with_daylight_saving(code: str, day: date, expected_utc_hour: int) -> None:
    zone = zone_for(code)
    assert zone is not None
    local = datetime(day.year, day.month, day.day, 12, 0, tzinfo=zone)
    assert local.astimezone(UTC).hour == expected_utc_hour


def test_unknown_time_code_is_a_warning_and_assumed_utc() -> None:
    data = build("214", "B10*PRO1*SHIP1*ABCD", "LX*1", "AT7*X6*NS***20260102*0800*QQ")
    (event,) = map_bytes(data)
    assert isinstance(event, ShipmentMilestone)
    assert event.event_time_precision is EventTimePrecision.LOCAL_TIME_ASSUMED_UTC
    assert any("'QQ'" in w for w in event.warnings)


def test_945_shipped_milestone_and_issue_movements() -> None:
    data = build(
        "945", "W06*F*ORD-1*20260103*SHP-9**PO-1", "N1*WH*DC EAST*9*0012345678901",
        "N9*BM*BOL-1", "W27*M*ABCD", "G62*11*20260103*8*1415*CT",
        "LX*1", "W12*CC*10*8*2*CA*012345678905*VN*V-1*LOT7",
        "LX*2", "W12*CL*3*3**EA**SK*SKU-2",
    )
    shipped, first, second = map_bytes(data)
    assert isinstance(shipped, ShipmentMilestone)
    assert (shipped.carrier, shipped.tracking_number, shipped.raw_status.code) == (
        "ABCD", "BOL-1", "SHIPPED")
    assert shipped.raw_status.source is RawStatusSource.WMS
    # 14:15 Central in January = 20:15 UTC.
    assert shipped.event_time == datetime(2026, 1, 3, 20, 15, tzinfo=UTC)
    assert isinstance(first, InventoryMovement) and isinstance(second, InventoryMovement)
    assert (first.sku, first.location, first.movement_type, first.lot) == (
        "V-1", "0012345678901", MovementType.ISSUE, "LOT7")
    assert (first.qty_delta.value, first.qty_delta.uom) == (Decimal(-8), "CA")
    assert first.item.case_code == "012345678905"
    assert (second.sku, second.qty_delta.value) == ("SKU-2", Decimal(-3))
    assert first.correlation.po_number == "PO-1"
