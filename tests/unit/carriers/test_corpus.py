"""Every recorded carrier response in the corpus, parsed; expected values read from the files."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from backbone.events.logistics import EventTimePrecision, ShipmentMilestone
from connectors.carriers import CarrierResponseError, Parsed, parse
from processors.shipment_status import apply, load_mappings

CORPUS = Path("/work/shared/corpus/carriers")
NOW = datetime(2024, 5, 14, tzinfo=UTC)
# Under CI the corpus is always beside the clone: its absence must fail, never skip.
pytestmark = pytest.mark.skipif(not CORPUS.is_dir() and os.environ.get("CI") != "true",
                                reason=f"corpus not at {CORPUS}")


def _parse(name: str) -> Parsed:
    return parse(name.split("__")[0], (CORPUS / name).read_bytes(), name=name, recorded_at=NOW)


def _codes(parsed: Parsed) -> list[tuple[str | None, ...]]:
    return [(e.raw_status.code, e.raw_status.reason_code, e.event_time.isoformat())
            for e in parsed.events]


def _final(events: list[ShipmentMilestone]) -> tuple[str, bool]:
    mappings, status, memory = load_mappings(), None, None
    for event in events:
        outcome = apply(status, event, mappings, memory)
        status, memory = outcome.status, outcome.memory
    assert status is not None
    return status.milestone.value, status.condition.exception


# (file, events, first event (code, reason, UTC time), final milestone, exception)
EXPECTED = [
    ("ups__out_for_delivery_shipment.xml", 5, ("I", "DS", "2012-05-10T04:34:00+00:00"),
     "OUT_FOR_DELIVERY", False),
    ("ups__in_transit_shipment.xml", 6, ("I", "AR", "2011-08-23T06:38:00+00:00"),
     "IN_TRANSIT", False),
    ("ups__delivered_shipment_with_refund.xml", 11, ("X", "DM", "2013-12-12T04:38:00+00:00"),
     "DELIVERED", False),
    ("ups__delivered_shipment_without_events_tracking_response.xml", 1,
     ("D", "FS", "2011-06-17T13:45:00+00:00"), "DELIVERED", False),
    ("ups__rescheduled_shipment.xml", 7, ("I", "OF", "2015-01-29T06:00:00+00:00"),
     "OUT_FOR_DELIVERY", False),
    ("ups__shipment_from_tiger_direct.xml", 8, ("D", "KB", "2008-06-25T11:19:00+00:00"),
     "DELIVERED", False),
    ("fedex__tracking_response_delivered_at_door.xml", 10,
     ("DL", "014", "2014-01-08T20:53:10+00:00"), "DELIVERED", False),
    ("fedex__tracking_response_delivered_at_facility.xml", 19,
     ("DL", "005", "2014-01-09T02:03:00+00:00"), "DELIVERED", False),
    ("fedex__tracking_response_delivered_with_signature.xml", 11,
     ("DL", None, "2014-01-02T18:23:29+00:00"), "DELIVERED", False),
    ("fedex__tracking_response_in_transit.xml", 1, ("IT", "72", "2014-11-18T07:13:00+00:00"),
     "IN_TRANSIT", False),
    ("fedex__tracking_response_shipment_exception.xml", 8,
     ("SE", "099", "2014-01-28T23:43:08+00:00"), "IN_TRANSIT", True),
    ("usps__tracking_response.xml", 10, ("01", None, "2015-04-28T09:01:00+00:00"),
     "DELIVERED", False),
    ("usps__tracking_response_alt.xml", 1, ("OF", None, "2015-04-28T08:29:00+00:00"),
     "OUT_FOR_DELIVERY", False),
]


@pytest.mark.parametrize(("name", "count", "first", "milestone", "exception"), EXPECTED,
                         ids=[e[0] for e in EXPECTED])
def test_recorded_response(name: str, count: int, first: tuple[str | None, ...], milestone: str,
                           exception: bool) -> None:
    parsed = _parse(name)
    assert len(parsed.events) == count
    assert _codes(parsed)[0] == first
    assert _final(parsed.events) == (milestone, exception)
    keys = [e.idempotency_key for e in parsed.events]
    assert len(set(keys)) == len(keys)
    assert [e.event_id for e in _parse(name).events] == [e.event_id for e in parsed.events]
    for event in parsed.events:  # JSON lines round trip, as `carriers parse` prints them
        assert ShipmentMilestone.from_json_dict(json.loads(json.dumps(event.to_json_dict()))) \
            == event


def test_every_corpus_file_is_covered() -> None:
    covered = {e[0] for e in EXPECTED} | set(ERRORS) | set(EMPTY) | {
        "ups__example_tracking_response.xml"}
    assert covered == {p.name for p in CORPUS.iterdir()}


def test_ups_out_for_delivery_keeps_type_i_and_description() -> None:
    event = _parse("ups__out_for_delivery_shipment.xml").events[0]
    assert (event.carrier, event.tracking_number) == ("UPSN", "1ZW22A280305086608")
    assert (event.raw_status.source.value, event.raw_status.code, event.raw_status.reason_code,
            event.raw_status.description) == ("UPS", "I", "DS", "OUT FOR DELIVERY")
    assert event.event_time_precision is EventTimePrecision.LOCAL_TIME_ASSUMED_UTC
    assert event.event_time_offset_minutes is None
    assert event.location is not None
    assert (event.location.city, event.location.region, event.location.country) == (
        "STAFFORD", "TX", "US")
    assert event.eta == datetime(2012, 5, 10, tzinfo=UTC)  # RescheduledDeliveryDate
    assert event.idempotency_key == "UPSN:1ZW22A280305086608:I:DS:20120510T043400"


def test_ups_proof_of_delivery() -> None:
    delivered = _parse("ups__delivered_shipment_with_refund.xml").events[1]
    assert delivered.raw_status.code == "D"
    assert delivered.pod is not None
    assert (delivered.pod.signed_by, delivered.pod.delivered_to_location) == (
        "EVANS", "FRONT DESK")
    porch = _parse("ups__delivered_shipment_without_events_tracking_response.xml").events[0]
    assert porch.pod is not None and porch.pod.delivered_to_location == "PORCH"


def test_fedex_offsets_pod_and_local_time() -> None:
    events = _parse("fedex__tracking_response_delivered_at_door.xml").events
    delivered, picked_up = events[0], events[-1]
    assert delivered.event_time_offset_minutes == -480
    assert delivered.event_time_precision is EventTimePrecision.EXACT
    assert delivered.pod is not None and delivered.pod.signed_by == "Signature not required"
    assert delivered.source.partner_id == "FDXG"
    # "2014-01-03T00:00:00" has no offset in the recording
    assert (picked_up.raw_status.code, picked_up.event_time_precision,
            picked_up.event_time_offset_minutes) == (
        "PU", EventTimePrecision.LOCAL_TIME_ASSUMED_UTC, None)
    signed = _parse("fedex__tracking_response_delivered_with_signature.xml").events[0]
    assert signed.pod is not None and signed.pod.signed_by == "AVILLALON"


def test_fedex_exception_reason_kept_raw() -> None:
    event = _parse("fedex__tracking_response_shipment_exception.xml").events[0]
    assert (event.raw_status.code, event.raw_status.reason_code,
            event.raw_status.description) == ("SE", "099", "Shipment exception")
    assert event.location is not None and event.location.postal_code == "76119"


def test_usps_event_fields() -> None:
    events = _parse("usps__tracking_response.xml").events
    assert [e.raw_status.code for e in events] == [
        "01", "OF", "PC", "07", "EF", "10", "EF", "10", "OA", "GX"]
    summary = events[0]
    assert summary.tracking_number == "9102901000462189604217"
    assert summary.raw_status.description == "Delivered, In/At Mailbox"
    assert summary.eta == datetime(2015, 4, 28, tzinfo=UTC)
    assert events[-1].event_time == datetime(2015, 4, 23, 23, 36, tzinfo=UTC)  # 11:36 pm


def test_usps_entry_without_date_is_rejected_not_guessed() -> None:
    parsed = _parse("usps__tracking_response_alt.xml")
    assert [r.position for r in parsed.rejections] == [
        "usps__tracking_response_alt.xml: TrackInfo[1]/TrackDetail[1]"]
    assert "Origin Post is Preparing Shipment" in parsed.rejections[0].problem


def test_ups_activity_without_date_is_rejected() -> None:
    parsed = _parse("ups__example_tracking_response.xml")
    assert parsed.events == []
    assert "no valid Date" in parsed.rejections[0].problem


ERRORS = {
    "fedex__tracking_response_not_found.xml": "This tracking number cannot be found",
    "usps__tracking_response_failure.xml": "could not locate the tracking information",
    "usps__tracking_response_not_available.xml": "Delivery status information is not available",
}
EMPTY = ["fedex__tracking_response_empty_status_detail.xml",
         "fedex__tracking_response_missing_status_code.xml",
         "fedex__tracking_response_multiple_results.xml",
         "ups__no_status_node_success.xml"]


@pytest.mark.parametrize(("name", "message"), ERRORS.items())
def test_not_found_and_error_responses_raise(name: str, message: str) -> None:
    with pytest.raises(CarrierResponseError, match=message):
        _parse(name)


@pytest.mark.parametrize("name", EMPTY)
def test_successful_responses_without_events(name: str) -> None:
    parsed = _parse(name)
    assert (parsed.events, parsed.rejections) == ([], [])
