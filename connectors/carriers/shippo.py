"""Shippo track JSON (a ``track_updated`` webhook, or ``GET /tracks/{carrier}/{number}``) to
ShipmentMilestone events, one per tracking_history entry (plus tracking_status when it is
newer).

raw_status: code = status (PRE_TRANSIT, TRANSIT, DELIVERED, RETURNED, FAILURE, UNKNOWN),
reason_code = substatus.code, description = status_details. status_date is UTC (EXACT). A
``detail`` body ("Not found.") is an error.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from backbone.events.logistics import RawStatusSource
from connectors.carriers.model import (
    CarrierResponseError,
    EventTime,
    MalformedResponseError,
    Parsed,
    TrackingEvent,
    as_list,
    as_object,
    carrier_code,
    field_text,
    load_json_object,
    location,
    raw_status,
)

EXPECTED = "a Shippo track_updated webhook or track object"


def parse(data: bytes, *, name: str, recorded_at: datetime,
          tracking_number: str | None = None) -> Parsed:
    body = load_json_object(data, name, EXPECTED)
    track = as_object(body.get("data")) if body.get("event") else body
    if "tracking_history" not in track and "tracking_status" not in track:
        problem = field_text(body.get("detail")) or field_text(body.get("error"))
        if problem:
            raise CarrierResponseError(f"{name}: Shippo answered with an error: {problem}")
        raise MalformedResponseError(f"{name}: no tracking_history; expected {EXPECTED}")
    tracking = field_text(track.get("tracking_number")) or tracking_number
    if tracking is None:
        raise CarrierResponseError(f"{name}: the track has no tracking_number")
    carrier = carrier_code(field_text(track.get("carrier")))
    eta = _eta(track)
    entries = [as_object(e) for e in as_list(track.get("tracking_history"))]
    latest = as_object(track.get("tracking_status"))
    seen = {field_text(e.get("object_id")) for e in entries} - {None}
    if latest and field_text(latest.get("object_id")) not in seen:
        entries.append(latest)
    parsed = Parsed()
    for i, entry in enumerate(entries):
        parsed.add(_event(entry, carrier, tracking, eta, field_text(track.get("carrier"))),
                   f"{name}: tracking_history[{i}]", recorded_at=recorded_at,
                   api="shippo-track", raw_ref=name)
    return parsed


def _event(entry: dict[str, Any], carrier: str, tracking: str, eta: datetime | None,
           named: str | None) -> TrackingEvent | str:
    status = field_text(entry.get("status"))
    if status is None:
        return "no status; entry skipped"
    stamp = field_text(entry.get("status_date"))
    try:
        when = EventTime.resolve(stamp or "")
    except ValueError:
        return f"status_date {stamp!r} is not ISO-8601; entry skipped"
    place = as_object(entry.get("location"))
    return TrackingEvent(
        carrier=carrier, tracking_number=tracking,
        raw_status=raw_status(RawStatusSource.SHIPPO, status,
                              field_text(as_object(entry.get("substatus")).get("code")),
                              field_text(entry.get("status_details"))),
        time=when,
        location=location(field_text(place.get("city")), field_text(place.get("state")),
                          field_text(place.get("zip")), field_text(place.get("country"))),
        eta=eta, partner_id=named)


def _eta(track: dict[str, Any]) -> datetime | None:
    text = field_text(track.get("eta"))
    try:
        return EventTime.iso(text).utc if text else None
    except ValueError:
        return None
