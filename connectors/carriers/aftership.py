"""AfterShip tracking JSON (a ``tracking_update`` webhook, or ``GET /trackings/...``) to
ShipmentMilestone events, one per checkpoint.

raw_status: code = checkpoint tag (InTransit, OutForDelivery, Delivered, Exception, ...),
reason_code = subtag (``Delivered_001``), description = message. checkpoint_time is local
wall-clock, with an offset in current API versions: one without is flagged
LOCAL_TIME_ASSUMED_UTC. A ``meta.code`` other than 200 (4004: not found) is an error.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

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

EXPECTED = "an AfterShip tracking_update webhook or tracking response"


def parse(data: bytes, *, name: str, recorded_at: datetime,
          tracking_number: str | None = None) -> Parsed:
    body = load_json_object(data, name, EXPECTED)
    meta = as_object(body.get("meta"))
    if meta and meta.get("code") not in (200, 201, None):
        raise CarrierResponseError(f"{name}: AfterShip answered with an error "
                                   f"{field_text(meta.get('code'))}: "
                                   f"{field_text(meta.get('message')) or 'no message'}")
    tracking_object = _tracking(body)
    if tracking_object is None:
        raise MalformedResponseError(f"{name}: no tracking in the body; expected {EXPECTED}")
    tracking = field_text(tracking_object.get("tracking_number")) or tracking_number
    if tracking is None:
        raise CarrierResponseError(f"{name}: the tracking has no tracking_number")
    carrier = carrier_code(field_text(tracking_object.get("slug")))
    eta = _eta(tracking_object)
    parsed = Parsed()
    for i, checkpoint in enumerate(as_list(tracking_object.get("checkpoints"))):
        parsed.add(_event(as_object(checkpoint), tracking_object, carrier, tracking, eta),
                   f"{name}: checkpoints[{i}]", recorded_at=recorded_at,
                   api="aftership-tracking", raw_ref=name)
    return parsed


def _tracking(body: dict[str, Any]) -> dict[str, Any] | None:
    for candidate in (body.get("msg"), as_object(body.get("data")).get("tracking"),
                      body.get("data")):
        if isinstance(candidate, dict) and "checkpoints" in candidate:
            return candidate
    return None


def _event(checkpoint: dict[str, Any], tracking_object: dict[str, Any], carrier: str,
           tracking: str, eta: datetime | None) -> TrackingEvent | str:
    tag = field_text(checkpoint.get("tag"))
    if tag is None:
        return "no tag; checkpoint skipped"
    stamp = field_text(checkpoint.get("checkpoint_time"))
    try:
        when = EventTime.resolve(stamp or "")
    except ValueError:
        return f"checkpoint_time {stamp!r} is not ISO-8601; checkpoint skipped"
    signed = field_text(tracking_object.get("signed_by"))
    return TrackingEvent(
        carrier=carrier, tracking_number=tracking,
        raw_status=raw_status(RawStatusSource.AFTERSHIP, tag, field_text(checkpoint.get("subtag")),
                              field_text(checkpoint.get("message"))
                              or field_text(checkpoint.get("subtag_message"))),
        time=when,
        location=location(field_text(checkpoint.get("city")), field_text(checkpoint.get("state")),
                          field_text(checkpoint.get("zip")),
                          field_text(checkpoint.get("country_region")
                                     or checkpoint.get("country_iso3")),
                          field_text(checkpoint.get("location"))),
        eta=eta,
        pod=ProofOfDelivery(signed_by=signed) if tag == "Delivered" and signed else None,
        partner_id=field_text(tracking_object.get("slug")))


def _eta(tracking_object: dict[str, Any]) -> datetime | None:
    text = field_text(tracking_object.get("expected_delivery"))
    try:
        return EventTime.iso(text).utc if text else None
    except ValueError:
        return None
