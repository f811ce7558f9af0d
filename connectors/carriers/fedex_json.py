"""FedEx Track API JSON (``POST /track/v1/trackingnumbers``) to ShipmentMilestone events.

The same event types as the FedEx web services, so the same mapping table: raw_status.code =
scanEvents[].eventType, reason_code = exceptionCode, description = eventDescription. Scan dates
carry their offset (EXACT). A trackResult holding an ``error`` (TRACKING.TRACKINGNUMBER.NOTFOUND)
is a rejection; when every one does, the answer is an error.
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
    carrier_code,
    field_text,
    load_json_object,
    location,
    raw_status,
)

EXPECTED = "a FedEx Track API JSON response"


def parse(data: bytes, *, name: str, recorded_at: datetime,
          tracking_number: str | None = None) -> Parsed:
    body = load_json_object(data, name, EXPECTED)
    errors = as_list(body.get("errors"))
    if errors:
        first = as_object(errors[0])
        raise CarrierResponseError(f"{name}: FedEx answered with an error "
                                   f"{field_text(first.get('code')) or '?'}: "
                                   f"{field_text(first.get('message')) or 'no message'}")
    if "output" not in body:
        raise MalformedResponseError(f"{name}: no output; expected {EXPECTED}; check --carrier")
    results = [(as_object(c), as_object(r))
               for c in as_list(as_object(body.get("output")).get("completeTrackResults"))
               for r in as_list(as_object(c).get("trackResults"))]
    # A result with an error and no scans is a failure; FedEx's own samples show an error
    # object beside scans too, and those scans are kept.
    failed = [r for _, r in results if r.get("error") and not r.get("scanEvents")]
    if results and len(failed) == len(results):
        complete, first = results[0]
        error = as_object(first.get("error"))
        raise CarrierResponseError(
            f"{name}: FedEx could not track "
            f"{field_text(complete.get('trackingNumber')) or tracking_number or 'the shipment'}: "
            f"{field_text(error.get('message')) or 'no message'} "
            f"(code {field_text(error.get('code')) or '?'})")
    parsed = Parsed()
    for i, (complete, result) in enumerate(results):
        where = f"{name}: trackResults[{i}]"
        if result in failed:
            error = as_object(result.get("error"))
            parsed.rejections.append(Rejection(where, f"FedEx error {error.get('code')}: "
                                               f"{error.get('message')}"))
            continue
        info = as_object(result.get("trackingNumberInfo"))
        tracking = (field_text(info.get("trackingNumber"))
                    or field_text(complete.get("trackingNumber")) or tracking_number)
        if tracking is None:
            parsed.rejections.append(Rejection(where, "no trackingNumber; skipped"))
            continue
        eta = _eta(result)
        for e, scan in enumerate(as_list(result.get("scanEvents"))):
            event = _event(as_object(scan), result, tracking, eta,
                           field_text(info.get("carrierCode")))
            parsed.add(event, f"{where}.scanEvents[{e}]", recorded_at=recorded_at,
                       api="fedex-track-json", raw_ref=name)
    return parsed


def _event(scan: dict[str, Any], result: dict[str, Any], tracking: str, eta: datetime | None,
           operating: str | None) -> TrackingEvent | str:
    code = field_text(scan.get("eventType"))
    if code is None:
        return "no eventType; scan skipped"
    stamp = field_text(scan.get("date"))
    try:
        when = EventTime.resolve(stamp or "")
    except ValueError:
        return f"date {stamp!r} is not ISO-8601; scan skipped"
    place = as_object(scan.get("scanLocation"))
    pod = None
    if code == "DL":
        delivered = as_object(result.get("deliveryDetails"))
        signed = field_text(delivered.get("receivedByName"))
        left_at = field_text(delivered.get("locationDescription"))
        pod = ProofOfDelivery(signed_by=signed, delivered_to_location=left_at) if (
            signed or left_at) else None
    return TrackingEvent(
        carrier=carrier_code("FEDEX"), tracking_number=tracking,
        raw_status=raw_status(RawStatusSource.FEDEX, code, field_text(scan.get("exceptionCode")),
                              field_text(scan.get("eventDescription"))),
        time=when,
        location=location(field_text(place.get("city")),
                          field_text(place.get("stateOrProvinceCode")),
                          field_text(place.get("postalCode")),
                          field_text(place.get("countryCode"))),
        eta=eta, pod=pod, partner_id=operating)


def _eta(result: dict[str, Any]) -> datetime | None:
    candidates = [field_text(as_object(as_object(result.get("estimatedDeliveryTimeWindow"))
                                       .get("window")).get("ends"))]
    candidates += [field_text(as_object(d).get("dateTime"))
                   for d in as_list(result.get("dateAndTimes"))
                   if as_object(d).get("type") == "ESTIMATED_DELIVERY"]
    for text in candidates:
        if text:
            try:
                return EventTime.iso(text).utc
            except ValueError:
                continue
    return None
