"""UPS Track API JSON (``GET /api/track/v1/details/{inquiryNumber}``) to ShipmentMilestone events.

The same vocabulary as the XML Track API, so the same mapping table: raw_status.code =
activity status.type (I, D, X, P, M), reason_code = status.code, description = the status
description. Activity times are local wall-clock (date YYYYMMDD, time HHMMSS); the activity's
gmtOffset, or its gmtDate/gmtTime, places them exactly, else they are flagged
LOCAL_TIME_ASSUMED_UTC. "Not found" comes back as a shipment holding only warnings.
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

CARRIER = "UPSN"
EXPECTED = "a UPS Track API JSON response"


def parse(data: bytes, *, name: str, recorded_at: datetime,
          tracking_number: str | None = None) -> Parsed:
    body = load_json_object(data, name, EXPECTED)
    errors = as_list(as_object(body.get("response")).get("errors"))
    if errors:
        first = as_object(errors[0])
        raise CarrierResponseError(
            f"{name}: UPS answered with an error {field_text(first.get('code')) or '?'}: "
            f"{field_text(first.get('message')) or 'no message'}")
    if "trackResponse" not in body:
        raise MalformedResponseError(f"{name}: no trackResponse; expected {EXPECTED}; check "
                                   "--carrier")
    shipments = as_list(as_object(body.get("trackResponse")).get("shipment"))
    packages = [p for s in shipments for p in as_list(as_object(s).get("package"))]
    if not packages:
        warning = next((as_object(w) for s in shipments
                        for w in as_list(as_object(s).get("warnings"))), {})
        raise CarrierResponseError(
            f"{name}: UPS could not track "
            f"{field_text(as_object(shipments[0] if shipments else {}).get('inquiryNumber')) or tracking_number or 'the shipment'}: "  # noqa: E501
            f"{field_text(warning.get('message')) or 'no package in the answer'}"
            + (f" (code {field_text(warning.get('code'))})" if warning.get("code") else ""))
    parsed = Parsed()
    for s, shipment in enumerate(shipments):
        shipment = as_object(shipment)
        for p, package in enumerate(as_list(shipment.get("package"))):
            package = as_object(package)
            where = f"{name}: shipment[{s}].package[{p}]"
            tracking = (field_text(package.get("trackingNumber"))
                        or field_text(shipment.get("inquiryNumber")) or tracking_number)
            if tracking is None:
                parsed.rejections.append(Rejection(where, "no trackingNumber; package skipped"))
                continue
            eta = _eta(package)
            for a, activity in enumerate(as_list(package.get("activity"))):
                event = _event(as_object(activity), package, tracking, eta)
                parsed.add(event, f"{where}.activity[{a}]", recorded_at=recorded_at,
                           api="ups-track-json", raw_ref=name)
    return parsed


def _event(activity: dict[str, Any], package: dict[str, Any], tracking: str,
           eta: datetime | None) -> TrackingEvent | str:
    status = as_object(activity.get("status"))
    kind = field_text(status.get("type"))
    if kind is None:
        return "no status.type; activity skipped"
    try:
        when = EventTime.resolve(_local(activity.get("date"), activity.get("time")),
                                 offset=field_text(activity.get("gmtOffset")),
                                 utc=_utc(activity.get("gmtDate"), activity.get("gmtTime")))
    except ValueError:
        return (f"date {activity.get('date')!r} time {activity.get('time')!r} is not "
                "YYYYMMDD HHMMSS; activity skipped")
    address = as_object(as_object(activity.get("location")).get("address"))
    pod = None
    if kind == "D":
        delivered = as_object(package.get("deliveryInformation"))
        signed, left_at = field_text(delivered.get("receivedBy")), field_text(
            delivered.get("location"))
        pod = ProofOfDelivery(signed_by=signed, delivered_to_location=left_at) if (
            signed or left_at) else None
    return TrackingEvent(
        carrier=CARRIER, tracking_number=tracking,
        raw_status=raw_status(RawStatusSource.UPS, kind, field_text(status.get("code")),
                              field_text(status.get("description"))),
        time=when,
        location=location(field_text(address.get("city")),
                          field_text(address.get("stateProvince")),
                          field_text(address.get("postalCode")),
                          field_text(address.get("countryCode") or address.get("country"))),
        eta=eta, pod=pod)


def _local(day: Any, clock: Any) -> str:
    d, t = field_text(day) or "", (field_text(clock) or "000000").replace(":", "")
    if not (len(d) == 8 and d.isdigit() and len(t) == 6 and t.isdigit()):
        raise ValueError("not YYYYMMDD HHMMSS")
    return f"{d[:4]}-{d[4:6]}-{d[6:]}T{t[:2]}:{t[2:4]}:{t[4:]}"


def _utc(day: Any, clock: Any) -> str | None:
    try:
        return _local(day, clock) + "+00:00" if field_text(day) else None
    except ValueError:
        return None


def _eta(package: dict[str, Any]) -> datetime | None:
    for entry in as_list(package.get("deliveryDate")):
        entry = as_object(entry)
        if field_text(entry.get("type")) in {"SDD", "RDD"}:
            try:
                return EventTime.iso(_local(entry.get("date"), "000000")).utc
            except ValueError:
                return None
    return None
