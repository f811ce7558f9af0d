"""The carriers' REST tracking formats (recorded responses from karrio's tests, tests/corpus) and
the aggregators' tracker objects and webhook bodies (developer-authored, shaped as each
provider's API reference documents them), through the one parse() every path uses."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from backbone.events.logistics import EventTimePrecision, ShipmentMilestone
from connectors.carriers import CarrierResponseError, Parsed, parse
from connectors.carriers.model import EventTime
from processors.shipment_status import apply, load_mappings

CORPUS = Path(__file__).parents[2] / "corpus" / "carriers"
NOW = datetime(2024, 12, 1, tzinfo=UTC)


def _file(carrier: str, name: str, tracking: str | None = None) -> Parsed:
    return parse(carrier, (CORPUS / name).read_bytes(), name=name, recorded_at=NOW,
                 tracking_number=tracking)


def _body(carrier: str, body: dict[str, Any]) -> Parsed:
    return parse(carrier, json.dumps(body).encode(), name="body", recorded_at=NOW)


def _final(events: list[ShipmentMilestone]) -> tuple[str, bool]:
    mappings, status, memory = load_mappings(), None, None
    for event in sorted(events, key=lambda e: e.event_time):
        outcome = apply(status, event, mappings, memory)
        status, memory = outcome.status, outcome.memory
    assert status is not None
    return status.milestone.value, status.condition.exception


def test_usps_v3_local_times_placed_by_their_gmt_offset() -> None:
    parsed = _file("usps", "karrio__usps__TrackingResponse.json", "9400109104250532908587")
    assert len(parsed.events) == 12 and parsed.rejections == []
    delivered = parsed.events[0]
    assert (delivered.raw_status.code, delivered.raw_status.description) == (
        "01", "Delivered, Parcel Locker")
    # eventTimestamp 2024-11-22T13:58:00 local, GMTOffset -05:00
    assert (delivered.event_time, delivered.event_time_offset_minutes,
            delivered.event_time_precision) == (
        datetime(2024, 11, 22, 18, 58, tzinfo=UTC), -300, EventTimePrecision.EXACT)
    assert delivered.location is not None and delivered.location.city == "HERNANDO"
    assert _final(parsed.events) == ("DELIVERED", False)


def test_usps_v3_body_without_its_tracking_number_needs_it_given() -> None:
    body = json.loads((CORPUS / "karrio__usps__TrackingResponse.json").read_text())
    del body["trackingNumber"]
    with pytest.raises(CarrierResponseError, match="--tracking-number"):
        _body("usps", body)
    given = parse("usps", json.dumps(body).encode(), name="body", recorded_at=NOW,
                  tracking_number="9400TEST")
    assert {e.tracking_number for e in given.events} == {"9400TEST"}


def test_fedex_track_api_scans_with_offsets() -> None:
    parsed = _file("fedex", "karrio__fedex__InconsistentDateTimeResponse.json")
    first = parsed.events[0]
    assert (first.tracking_number, first.raw_status.code, first.event_time,
            first.event_time_offset_minutes) == (
        "738488882438", "DL", datetime(2024, 8, 20, 16, 41, 57, tzinfo=UTC), -240)
    assert first.pod is not None
    assert _final(parsed.events) == ("DELIVERED", False)


def test_fedex_result_with_error_and_no_scans_is_a_rejection_not_an_event() -> None:
    parsed = _file("fedex", "karrio__fedex__TrackingResponse.json")
    assert [e.raw_status.code for e in parsed.events] == ["PU"]
    assert [r.problem for r in parsed.rejections] == [
        "FedEx error TRACKING.TRACKINGNUMBER.NOTFOUND: Tracking number cannot be found. "
        "Please correct the tracking number and try again."]


def test_fedex_exception_code_is_the_reason() -> None:
    parsed = _file("fedex", "karrio__fedex__DuplicateTrackingResponse.json")
    delay = next(e for e in parsed.events if e.raw_status.code == "DY")
    assert delay.raw_status.reason_code == "A52"
    assert _final(parsed.events)[0] == "DELIVERED"


def test_ups_track_api_json_uses_the_xml_vocabulary() -> None:
    parsed = _file("ups", "karrio__ups__TrackingResponseJSON.json")
    (event,) = parsed.events
    assert (event.raw_status.code, event.raw_status.reason_code, event.raw_status.source.value) == (
        "X", "SR", "UPS")
    # date 20210210 time 071356 and no gmt fields: kept as if UTC, flagged
    assert (event.event_time, event.event_time_precision) == (
        datetime(2021, 2, 10, 7, 13, 56, tzinfo=UTC), EventTimePrecision.LOCAL_TIME_ASSUMED_UTC)
    assert event.location is not None and event.location.city == "Wayne"


def test_ups_json_local_time_resolved_by_gmt_fields() -> None:
    body = json.loads((CORPUS / "karrio__ups__TrackingResponseJSON.json").read_text())
    activity = body["trackResponse"]["shipment"][0]["package"][0]["activity"][0]
    activity.update(gmtDate="20210210", gmtTime="12:13:56", gmtOffset="-05:00")
    (event,) = _body("ups", body).events
    assert (event.event_time, event.event_time_offset_minutes, event.event_time_precision) == (
        datetime(2021, 2, 10, 12, 13, 56, tzinfo=UTC), -300, EventTimePrecision.EXACT)


def test_dhl_unified_event_without_offset_is_flagged() -> None:
    parsed = _file("dhl", "karrio__dhl_universal__TrackingResponseJSON.json")
    (event,) = parsed.events
    assert (event.carrier, event.tracking_number, event.raw_status.code) == (
        "DHL", "7777777770", "pre-transit")
    assert event.event_time_precision is EventTimePrecision.LOCAL_TIME_ASSUMED_UTC
    assert event.eta == datetime(2018, 8, 3, tzinfo=UTC)


@pytest.mark.parametrize(("carrier", "name", "message"), [
    ("ups", "karrio__ups__TrackingNumberNotFoundResponseJSON.json",
     "UPS could not track the shipment: Tracking Information Not Found (code TW0001)"),
    ("ups", "karrio__ups__InvalidTrackingNumberResponseJSON.json",
     "UPS answered with an error TV1002: Invalid inquiry number"),
    ("ups", "karrio__ups__AuthError.json", "Invalid Access License number"),
    ("fedex", "karrio__fedex__ErrorResponse.json", "TRACKING.TRACKINGNUMBER.EMPTY"),
    ("usps", "karrio__usps__AuthErrorResponse.json", "invalid_client"),
    ("usps", "karrio__usps__ErrorResponse.json", "USPS answered with an error"),
    ("dhl", "karrio__dhl_universal__TrackingErrorResponseJSON.json",
     "No result found: No shipment with given tracking number found. (status 404)"),
])
def test_not_found_and_error_bodies_are_errors_never_milestones(carrier: str, name: str,
                                                                 message: str) -> None:
    with pytest.raises(CarrierResponseError) as error:
        _file(carrier, name)
    assert str(error.value).startswith(f"{name}: ") and message in str(error.value)


def test_a_carrier_json_body_given_to_another_carrier_is_refused() -> None:
    with pytest.raises(CarrierResponseError, match="check --carrier"):
        _file("fedex", "karrio__ups__TrackingResponseJSON.json")


# --- aggregators (bodies shaped as in each provider's API reference) ------------------------

AFTERSHIP_WEBHOOK = {
    "event": "tracking_update", "event_id": "8f3c1e2a", "ts": 1715000000,
    "msg": {
        "id": "as_1", "tracking_number": "1Z999AA10123456784", "slug": "ups",
        "tag": "Delivered", "expected_delivery": "2024-05-07", "signed_by": "R ROE",
        "checkpoints": [
            {"slug": "ups", "tag": "InTransit", "subtag": "InTransit_001",
             "message": "Shipment picked up", "checkpoint_time": "2024-05-05T17:02:00-04:00",
             "city": "ATLANTA", "state": "GA", "zip": "30301", "country_region": "USA"},
            {"slug": "ups", "tag": "Exception", "subtag": "Exception_011",
             "message": "Returned to shipper", "checkpoint_time": "2024-05-06T08:00:00",
             "city": "ATLANTA"},
        ],
    },
}


def test_aftership_webhook_checkpoints() -> None:
    parsed = _body("aftership", AFTERSHIP_WEBHOOK)
    picked, returned = parsed.events
    assert (picked.carrier, picked.raw_status.code, picked.raw_status.reason_code,
            picked.event_time_offset_minutes) == ("UPSN", "InTransit", "InTransit_001", -240)
    assert returned.event_time_precision is EventTimePrecision.LOCAL_TIME_ASSUMED_UTC
    assert _final(parsed.events) == ("RETURNED", True)


def test_aftership_get_tracking_and_its_errors() -> None:
    envelope = {"meta": {"code": 200}, "data": {"tracking": AFTERSHIP_WEBHOOK["msg"]}}
    assert len(_body("aftership", envelope).events) == 2
    with pytest.raises(CarrierResponseError, match="4004: Tracking does not exist"):
        _body("aftership", {"meta": {"code": 4004, "message": "Tracking does not exist."},
                            "data": {}})


SHIPENGINE_WEBHOOK = {
    "resource_url": "https://api.shipengine.com/v1/tracking?carrier_code=usps&tracking_number=9405",
    "resource_type": "API_TRACK",
    "data": {
        "tracking_number": "9405511899223197428490", "status_code": "DE",
        "status_description": "Delivered", "carrier_status_code": "01",
        "estimated_delivery_date": "2024-05-07T00:00:00Z",
        "events": [
            {"occurred_at": "2024-05-06T19:32:00Z", "carrier_occurred_at": "2024-05-06T12:32:00",
             "description": "Delivered, In/At Mailbox", "city_locality": "OCEANSIDE",
             "state_province": "CA", "postal_code": "92056", "country_code": "US",
             "signer": "", "event_code": "01", "status_code": None},
            {"occurred_at": "2024-05-05T12:32:00Z", "carrier_occurred_at": "2024-05-05T05:32:00",
             "description": "Arrived at USPS Facility", "event_code": "U1",
             "status_code": "IT"},
        ],
    },
}


def test_shipengine_webhook_offsets_from_carrier_local_time() -> None:
    parsed = _body("shipengine", SHIPENGINE_WEBHOOK)
    delivered, arrived = parsed.events
    assert (delivered.carrier, delivered.raw_status.code, delivered.raw_status.reason_code) == (
        "USPS", "DE", "01")  # the newest event takes the tracking's status_code
    assert (delivered.event_time, delivered.event_time_offset_minutes) == (
        datetime(2024, 5, 6, 19, 32, tzinfo=UTC), -420)
    assert arrived.raw_status.code == "IT"
    assert _final(parsed.events) == ("DELIVERED", False)


def test_shipengine_error_body() -> None:
    with pytest.raises(CarrierResponseError, match="unauthorized: The API key is invalid"):
        _body("shipengine", {"request_id": "r1", "errors": [
            {"error_source": "shipengine", "error_type": "security", "error_code": "unauthorized",
             "message": "The API key is invalid."}]})


SHIPPO_WEBHOOK = {
    "event": "track_updated", "test": True,
    "data": {
        "carrier": "usps", "tracking_number": "9205590164917312751089",
        "eta": "2024-05-08T18:00:00Z",
        "tracking_status": {"object_id": "ts3", "status": "TRANSIT",
                            "substatus": {"code": "out_for_delivery", "text": "Out for delivery"},
                            "status_details": "Out for delivery",
                            "status_date": "2024-05-08T13:10:00Z",
                            "location": {"city": "SAN FRANCISCO", "state": "CA", "zip": "94103",
                                         "country": "US"}},
        "tracking_history": [
            {"object_id": "ts1", "status": "PRE_TRANSIT", "status_details": "Label created",
             "status_date": "2024-05-06T09:00:00Z", "location": None, "substatus": None},
            {"object_id": "ts2", "status": "TRANSIT", "status_details": "Departed facility",
             "status_date": "2024-05-07T02:00:00Z", "substatus": {"code": "package_departed"}},
        ],
    },
}


def test_shippo_webhook_history_plus_newer_status() -> None:
    parsed = _body("shippo", SHIPPO_WEBHOOK)
    assert [(e.raw_status.code, e.raw_status.reason_code) for e in parsed.events] == [
        ("PRE_TRANSIT", None), ("TRANSIT", "package_departed"), ("TRANSIT", "out_for_delivery")]
    assert parsed.events[0].carrier == "USPS"
    assert _final(parsed.events) == ("OUT_FOR_DELIVERY", False)
    with pytest.raises(CarrierResponseError, match="Not found"):
        _body("shippo", {"detail": "Not found."})


def test_same_event_same_idempotency_key_across_reparses() -> None:
    first = _body("shippo", SHIPPO_WEBHOOK).events
    again = parse("shippo", json.dumps(SHIPPO_WEBHOOK).encode(), name="other",
                  recorded_at=datetime(2030, 1, 1, tzinfo=UTC)).events
    assert [e.idempotency_key for e in first] == [e.idempotency_key for e in again]
    assert [e.event_id for e in first] == [e.event_id for e in again]


@pytest.mark.parametrize(("local", "offset", "utc", "expected"), [
    ("2024-11-22T13:58:00", "-05:00", None, (datetime(2024, 11, 22, 18, 58, tzinfo=UTC), -300)),
    ("2024-11-22T13:58:00", None, "2024-11-22T18:58:40Z",
     (datetime(2024, 11, 22, 18, 58, tzinfo=UTC), -300)),
    ("2024-11-22T13:58:00+01:00", "-05:00", None,
     (datetime(2024, 11, 22, 12, 58, tzinfo=UTC), 60)),
    ("2024-11-22T13:58:00", None, None, (datetime(2024, 11, 22, 13, 58, tzinfo=UTC), None)),
    ("2024-11-22T05:30:00", "+05:30", None, (datetime(2024, 11, 22, 0, 0, tzinfo=UTC), 330)),
])
def test_local_times_resolved_from_what_else_the_payload_says(
        local: str, offset: str | None, utc: str | None,
        expected: tuple[datetime, int | None]) -> None:
    when = EventTime.resolve(local, offset=offset, utc=utc)
    assert (when.utc, when.offset_minutes) == expected
    assert (when.precision is EventTimePrecision.EXACT) == (expected[1] is not None)
