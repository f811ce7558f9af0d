"""USPS Tracking API v3 JSON (``GET /tracking/v3/tracking/{trackingNumber}``) to
ShipmentMilestone events.

The same event codes as Web Tools Track/Confirm, so the same mapping table: raw_status.code =
trackingEvents[].eventCode, description = eventType. eventTimestamp is local wall-clock; the
event's GMTOffset (or GMTTimestamp) places it exactly. The v3 body may not repeat the tracking
number: the poller (and ``--tracking-number``) supply it.
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
    field_text,
    load_json_object,
    location,
    raw_status,
)

CARRIER = "USPS"
EXPECTED = "a USPS Tracking v3 JSON response"


def parse(data: bytes, *, name: str, recorded_at: datetime,
          tracking_number: str | None = None) -> Parsed:
    body = load_json_object(data, name, EXPECTED)
    error = body.get("error")
    if error:
        detail = as_object(error)
        message = (field_text(detail.get("message")) or field_text(error)
                   or field_text(body.get("error_description")) or "no message")
        if isinstance(error, str) and body.get("error_description"):
            message = f"{error}: {field_text(body.get('error_description'))}"
        raise CarrierResponseError(f"{name}: USPS answered with an error: {message}")
    if "trackingEvents" not in body:
        raise MalformedResponseError(f"{name}: no trackingEvents; expected {EXPECTED}; check "
                                   "--carrier")
    tracking = field_text(body.get("trackingNumber")) or tracking_number
    if tracking is None:
        raise CarrierResponseError(f"{name}: the response does not name its tracking number; "
                                   "give it with --tracking-number")
    eta = _eta(body)
    parsed = Parsed()
    for i, entry in enumerate(as_list(body.get("trackingEvents"))):
        parsed.add(_event(as_object(entry), tracking, eta), f"{name}: trackingEvents[{i}]",
                   recorded_at=recorded_at, api="usps-tracking-v3", raw_ref=name)
    return parsed


def _event(entry: dict[str, Any], tracking: str, eta: datetime | None) -> TrackingEvent | str:
    code = field_text(entry.get("eventCode"))
    if code is None:
        return f"no eventCode (event {field_text(entry.get('eventType'))!r}); skipped"
    stamp = field_text(entry.get("eventTimestamp")) or field_text(entry.get("GMTTimestamp"))
    try:
        when = EventTime.resolve(stamp or "", offset=field_text(entry.get("GMTOffset")),
                                 utc=field_text(entry.get("GMTTimestamp")))
    except ValueError:
        return f"eventTimestamp {stamp!r} is not ISO-8601; skipped"
    return TrackingEvent(
        carrier=CARRIER, tracking_number=tracking,
        raw_status=raw_status(RawStatusSource.USPS, code, None, field_text(entry.get("eventType"))),
        time=when,
        location=location(field_text(entry.get("eventCity")), field_text(entry.get("eventState")),
                          field_text(entry.get("eventZIP")), field_text(entry.get("eventCountry")),
                          field_text(entry.get("firm"))),
        eta=eta)


def _eta(body: dict[str, Any]) -> datetime | None:
    for key in ("expectedDeliveryTimeStamp", "expectedDeliveryDate", "predictedDeliveryDate"):
        text = field_text(body.get(key))
        if text:
            try:
                return EventTime.iso(text).utc
            except ValueError:
                continue
    return None
