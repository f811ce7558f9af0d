"""DHL Shipment Tracking - Unified API JSON (``GET /track/shipments?trackingNumber=``) to
ShipmentMilestone events.

raw_status: code = events[].statusCode (pre-transit, transit, delivered, failure, unknown),
reason_code = statusDetailedCode when given, description = description or status. DHL gives
event timestamps with or without an offset and no offset elsewhere: those without are flagged
LOCAL_TIME_ASSUMED_UTC. A problem-details body (``{"title": "No result found", "status":
404}``) is an error.
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
    Rejection,
    TrackingEvent,
    as_list,
    as_object,
    field_text,
    load_json_object,
    location,
    raw_status,
)

CARRIER = "DHL"
EXPECTED = "a DHL Shipment Tracking (Unified) JSON response"


def parse(data: bytes, *, name: str, recorded_at: datetime,
          tracking_number: str | None = None) -> Parsed:
    body = load_json_object(data, name, EXPECTED)
    if "shipments" not in body:
        if body.get("title") or body.get("status"):
            raise CarrierResponseError(
                f"{name}: DHL could not track {tracking_number or 'the shipment'}: "
                f"{field_text(body.get('title')) or 'error'}: "
                f"{field_text(body.get('detail')) or 'no detail'} "
                f"(status {field_text(body.get('status')) or '?'})")
        raise MalformedResponseError(f"{name}: no shipments; expected {EXPECTED}; check --carrier")
    parsed = Parsed()
    for s, shipment in enumerate(as_list(body.get("shipments"))):
        shipment = as_object(shipment)
        where = f"{name}: shipments[{s}]"
        tracking = field_text(shipment.get("id")) or tracking_number
        if tracking is None:
            parsed.rejections.append(Rejection(where, "no id; shipment skipped"))
            continue
        eta = _eta(shipment)
        for e, entry in enumerate(as_list(shipment.get("events"))):
            parsed.add(_event(as_object(entry), shipment, tracking, eta),
                       f"{where}.events[{e}]", recorded_at=recorded_at,
                       api="dhl-unified-tracking", raw_ref=name)
    return parsed


def _event(entry: dict[str, Any], shipment: dict[str, Any], tracking: str,
           eta: datetime | None) -> TrackingEvent | str:
    code = field_text(entry.get("statusCode"))
    if code is None:
        return "no statusCode; event skipped"
    stamp = field_text(entry.get("timestamp"))
    try:
        when = EventTime.resolve(stamp or "")
    except ValueError:
        return f"timestamp {stamp!r} is not ISO-8601; event skipped"
    address = as_object(as_object(entry.get("location")).get("address"))
    pod = None
    if code == "delivered":
        proof = as_object(as_object(shipment.get("details")).get("proofOfDelivery"))
        signed = field_text(as_object(proof.get("signed")).get("name"))
        pod = ProofOfDelivery(signed_by=signed) if signed else None
    return TrackingEvent(
        carrier=CARRIER, tracking_number=tracking,
        raw_status=raw_status(RawStatusSource.DHL, code,
                              field_text(entry.get("statusDetailedCode")),
                              field_text(entry.get("description"))
                              or field_text(entry.get("status"))),
        time=when,
        location=location(field_text(address.get("addressLocality")), None,
                          field_text(address.get("postalCode")),
                          field_text(address.get("countryCode"))),
        eta=eta, pod=pod,
        partner_id=field_text(as_object(as_object(shipment.get("details")).get("carrier"))
                              .get("organizationName")))


def _eta(shipment: dict[str, Any]) -> datetime | None:
    text = field_text(shipment.get("estimatedTimeOfDelivery"))
    try:
        return EventTime.iso(text).utc if text else None
    except ValueError:
        return None
