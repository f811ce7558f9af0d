"""ShipEngine (ShipStation API) tracking JSON (an ``API_TRACK`` webhook, or ``GET
/v1/tracking``) to ShipmentMilestone events.

raw_status: code = the event's status_code (ShipEngine's own: AC, IT, DE, EX, AT, NY, SP, UN;
older answers leave it null per event, then the newest event takes the tracking's status_code
and the others UN), reason_code = event_code (the carrier's own code), description =
description. occurred_at is UTC; carrier_occurred_at, the carrier's local time, gives the
offset. An ``errors`` body is an error.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from backbone.events.logistics import ProofOfDelivery, RawStatusSource
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

EXPECTED = "a ShipEngine API_TRACK webhook or tracking response"
UNKNOWN = "UN"


def parse(data: bytes, *, name: str, recorded_at: datetime,
          tracking_number: str | None = None) -> Parsed:
    body = load_json_object(data, name, EXPECTED)
    errors = as_list(body.get("errors"))
    if errors:
        first = as_object(errors[0])
        raise CarrierResponseError(f"{name}: ShipEngine answered with an error "
                                   f"{field_text(first.get('error_code')) or '?'}: "
                                   f"{field_text(first.get('message')) or 'no message'}")
    info = as_object(body.get("data")) if body.get("resource_type") else body
    if "events" not in info:
        raise MalformedResponseError(f"{name}: no events; expected {EXPECTED}")
    tracking = field_text(info.get("tracking_number")) or tracking_number
    if tracking is None:
        raise CarrierResponseError(f"{name}: the tracking has no tracking_number")
    query = parse_qs(urlsplit(field_text(body.get("resource_url")) or "").query)
    named = field_text(info.get("carrier_code")) or next(iter(query.get("carrier_code", [])),
                                                          None)
    eta = _eta(info)
    events = [as_object(e) for e in as_list(info.get("events"))]
    newest = max(range(len(events)), key=lambda i: str(events[i].get("occurred_at") or ""),
                 default=-1)
    parsed = Parsed()
    for i, entry in enumerate(events):
        fallback = field_text(info.get("status_code")) if i == newest else None
        parsed.add(_event(entry, info, carrier_code(named), tracking, eta, fallback),
                   f"{name}: events[{i}]", recorded_at=recorded_at, api="shipengine-tracking",
                   raw_ref=name)
    return parsed


def _event(entry: dict[str, Any], info: dict[str, Any], carrier: str, tracking: str,
           eta: datetime | None, fallback: str | None) -> TrackingEvent | str:
    code = field_text(entry.get("status_code")) or fallback or UNKNOWN
    utc = field_text(entry.get("occurred_at"))
    try:
        when = EventTime.resolve(field_text(entry.get("carrier_occurred_at")) or utc or "",
                                 utc=utc)
    except ValueError:
        return f"occurred_at {utc!r} is not ISO-8601; event skipped"
    signed = field_text(entry.get("signer"))
    return TrackingEvent(
        carrier=carrier, tracking_number=tracking,
        raw_status=raw_status(RawStatusSource.SHIPENGINE, code, field_text(entry.get("event_code")),
                              field_text(entry.get("description"))),
        time=when,
        location=location(field_text(entry.get("city_locality")),
                          field_text(entry.get("state_province")),
                          field_text(entry.get("postal_code")),
                          field_text(entry.get("country_code")),
                          field_text(entry.get("company_name"))),
        eta=eta,
        pod=ProofOfDelivery(signed_by=signed) if code == "DE" and signed else None,
        partner_id=field_text(info.get("carrier_code")))


def _eta(info: dict[str, Any]) -> datetime | None:
    text = field_text(info.get("estimated_delivery_date"))
    try:
        return EventTime.iso(text).utc if text else None
    except ValueError:
        return None
