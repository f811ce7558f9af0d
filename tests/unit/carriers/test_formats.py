"""EasyPost-style tracker JSON (developer-authored, shaped like docs.easypost.com/docs/trackers)
and hostile or malformed input."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from backbone.events.logistics import EventTimePrecision
from connectors.carriers import CarrierResponseError, parse

NOW = datetime(2024, 5, 14, tzinfo=UTC)

TRACKER_UPDATED = {
    "object": "Event", "description": "tracker.updated", "id": "evt_1",
    "result": {
        "object": "Tracker", "id": "trk_1", "tracking_code": "9400110898825022579493",
        "carrier": "USPS", "status": "delivered", "signed_by": "J SMITH",
        "est_delivery_date": "2024-05-16T00:00:00Z",
        "tracking_details": [
            {"object": "TrackingDetail", "status": "pre_transit", "status_detail": "label_created",
             "message": "Pre-Shipment Info Sent to USPS", "datetime": "2024-05-13T14:02:00Z",
             "tracking_location": {"city": None, "state": None, "country": None, "zip": None}},
            {"object": "TrackingDetail", "status": "in_transit",
             "status_detail": "weather_delay", "message": "Delayed due to weather",
             "datetime": "2024-05-14T09:15:00-05:00",
             "tracking_location": {"city": "TULSA", "state": "OK", "country": "US",
                                   "zip": "74101"}},
            {"object": "TrackingDetail", "status": "delivered",
             "status_detail": "arrived_at_destination",
             "message": "Delivered", "datetime": "2024-05-15T16:40:00Z",
             "tracking_location": {"city": "DALLAS", "state": "TX", "country": "US",
                                   "zip": "75201"}},
            {"object": "TrackingDetail", "message": "no status"},
        ],
    },
}


def _parse(carrier: str, data: bytes) -> object:
    return parse(carrier, data, name="body", recorded_at=NOW)


def test_easypost_tracker_updated() -> None:
    parsed = parse("easypost", json.dumps(TRACKER_UPDATED).encode(), name="body", recorded_at=NOW)
    assert [(e.raw_status.code, e.raw_status.reason_code) for e in parsed.events] == [
        ("pre_transit", "label_created"), ("in_transit", "weather_delay"),
        ("delivered", "arrived_at_destination")]
    first, delayed, delivered = parsed.events
    assert first.location is None
    assert (delayed.event_time, delayed.event_time_offset_minutes,
            delayed.event_time_precision) == (
        datetime(2024, 5, 14, 14, 15, tzinfo=UTC), -300, EventTimePrecision.EXACT)
    assert delivered.carrier == "USPS" and delivered.eta == datetime(2024, 5, 16, tzinfo=UTC)
    assert delivered.pod is not None and delivered.pod.signed_by == "J SMITH"
    assert [r.position for r in parsed.rejections] == ["body: tracking_details[3]"]


def test_easypost_bare_tracker_and_carrier_names() -> None:
    tracker = {**TRACKER_UPDATED["result"], "carrier": "UPS"}  # type: ignore[dict-item]
    parsed = parse("easypost", json.dumps(tracker).encode(), name="body", recorded_at=NOW)
    assert {e.carrier for e in parsed.events} == {"UPSN"}


@pytest.mark.parametrize(("carrier", "body", "message"), [
    ("easypost", b"{not json", "not JSON"),
    ("easypost", b"[1]", "expected a JSON object"),
    ("easypost", b'{"error": {"message": "Tracker not found"}}', "Tracker not found"),
    ("easypost", b'{"object": "Event", "result": {"object": "Shipment"}}', "expected a tracker"),
    ("ups", b"<TrackResponse><Response>", "not well-formed XML"),
    ("ups", b"<TrackReply/>", "not a UPS <TrackResponse>; check --carrier"),
    ("ups", b"<TrackResponse><Response><ResponseStatusCode>0</ResponseStatusCode><Error>"
            b"<ErrorCode>151018</ErrorCode><ErrorDescription>Invalid tracking number"
            b"</ErrorDescription></Error></Response></TrackResponse>",
     "UPS answered with an error 151018: Invalid tracking number"),
    ("fedex", b"<TrackResponse/>", "not a FedEx <TrackReply>"),
    ("usps", b"<Error><Description>API Authorization failure</Description></Error>",
     "API Authorization failure"),
    ("royalmail", b"{}", "no parser for carrier 'royalmail'"),
])
def test_bad_responses_say_what_is_wrong(carrier: str, body: bytes, message: str) -> None:
    with pytest.raises(CarrierResponseError, match=message):
        parse(carrier, body, name="body", recorded_at=NOW)


def test_entity_expansion_is_refused() -> None:
    bomb = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
            b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><TrackResponse>&lol2;</TrackResponse>')
    with pytest.raises(CarrierResponseError, match="DTD or entities"):
        parse("ups", bomb, name="body", recorded_at=NOW)
    external = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                b"<TrackResponse>&x;</TrackResponse>")
    with pytest.raises(CarrierResponseError, match="DTD or entities"):
        parse("usps", external, name="body", recorded_at=NOW)
