"""EasyPost-style aggregator tracker JSON (a ``tracker.updated`` Event, or a bare Tracker) to
ShipmentMilestone events, one per tracking_details entry.

raw_status: code = status, reason_code = status_detail, description = message. Datetimes are
ISO-8601 with an offset (EXACT).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from backbone.events.logistics import ProofOfDelivery, RawStatusSource
from connectors.carriers.model import (
    CarrierResponseError,
    EventTime,
    Parsed,
    TrackingEvent,
    load_json,
    location,
    raw_status,
)

# The aggregator's carrier names to the codes the carriers' own parsers use, so one shipment
# tracked both ways has one key.
CARRIERS = {"UPS": "UPSN", "FEDEX": "FDX", "USPS": "USPS"}


def parse(data: bytes, *, name: str, recorded_at: datetime) -> Parsed:
    tracker = _tracker(data, name)
    tracking = _str(tracker.get("tracking_code"))
    if not tracking:
        raise CarrierResponseError(f"{name}: the tracker has no tracking_code")
    carrier_name = _str(tracker.get("carrier")) or "UNKNOWN"
    carrier = CARRIERS.get(carrier_name.upper(), carrier_name.upper())
    eta = _eta(tracker.get("est_delivery_date"))
    details = tracker.get("tracking_details") or []
    if not isinstance(details, list):
        raise CarrierResponseError(f"{name}: tracking_details is not a list")
    parsed = Parsed()
    for i, detail in enumerate(details):
        where = f"{name}: tracking_details[{i}]"
        event = _event(detail, carrier, tracking, eta, tracker)
        parsed.add(event, where, recorded_at=recorded_at, api="easypost-tracker", raw_ref=name)
    return parsed


def _tracker(data: bytes, name: str) -> dict[str, Any]:
    body = load_json(data, name, "a tracker.updated event")
    if not isinstance(body, dict):
        raise CarrierResponseError(f"{name}: expected a JSON object, got {type(body).__name__}")
    if "error" in body:
        problem = body["error"]
        message = problem.get("message") if isinstance(problem, dict) else problem
        raise CarrierResponseError(f"{name}: the aggregator answered with an error: {message}")
    tracker = body.get("result") if body.get("object") == "Event" else body
    if not isinstance(tracker, dict) or tracker.get("object", "Tracker") != "Tracker":
        raise CarrierResponseError(
            f"{name}: expected a tracker.updated Event or a Tracker object, got "
            f"{body.get('object') or body.get('description') or 'something else'}")
    return tracker


def _event(detail: Any, carrier: str, tracking: str, eta: datetime | None,
           tracker: dict[str, Any]) -> TrackingEvent | str:
    if not isinstance(detail, dict):
        return "not an object; skipped"
    status = _str(detail.get("status"))
    if not status:
        return "no status; skipped"
    stamp = _str(detail.get("datetime"))
    try:
        when = EventTime.iso(stamp or "")
    except ValueError:
        return f"datetime {stamp!r} is not ISO-8601; skipped"
    place = detail.get("tracking_location") or {}
    if not isinstance(place, dict):
        place = {}
    signed = _str(tracker.get("signed_by"))
    return TrackingEvent(
        carrier=carrier,
        tracking_number=tracking,
        raw_status=raw_status(RawStatusSource.EASYPOST, status, _str(detail.get("status_detail")),
                              _str(detail.get("message"))),
        time=when,
        location=location(_str(place.get("city")), _str(place.get("state")),
                          _str(place.get("zip")), _str(place.get("country"))),
        eta=eta,
        pod=ProofOfDelivery(signed_by=signed) if status == "delivered" and signed else None,
        partner_id=_str(tracker.get("carrier")),
    )


def _eta(value: Any) -> datetime | None:
    text = _str(value)
    if not text:
        return None
    try:
        return EventTime.iso(text).utc
    except ValueError:
        return None


def _str(value: Any) -> str | None:
    return str(value).strip() or None if value is not None else None
