"""FedEx Track web service XML (TrackReply, any namespace version) to ShipmentMilestone events.

raw_status: code = Events/EventType, reason_code = StatusExceptionCode, description =
EventDescription. Timestamps carry their offset (EXACT); a few recorded ones have none and are
flagged LOCAL_TIME_ASSUMED_UTC. A TrackDetails whose Notification is an ERROR (9040: not found)
is an error response.
"""

from __future__ import annotations

from datetime import datetime
from xml.etree.ElementTree import Element

from backbone.events.logistics import ProofOfDelivery, RawStatusSource
from connectors.carriers.model import (
    CarrierResponseError,
    EventTime,
    MalformedResponseError,
    Parsed,
    Rejection,
    TrackingEvent,
    location,
    parse_xml,
    raw_status,
    text,
)

CARRIER = "FDX"
_FAILED = {"ERROR", "FAILURE"}


def parse(data: bytes, *, name: str, recorded_at: datetime) -> Parsed:
    root = parse_xml(data, name)
    if root.tag != "TrackReply":
        raise MalformedResponseError(f"{name}: root element is <{root.tag}>, not a FedEx "
                                   "<TrackReply>; check --carrier")
    if text(root, "HighestSeverity") in _FAILED:
        raise CarrierResponseError(f"{name}: FedEx answered with an error: "
                                   f"{text(root, 'Notifications/Message') or 'no message'}")
    details = root.findall(".//TrackDetails")
    errors = [d for d in details if text(d, "Notification/Severity") in _FAILED]
    if details and len(errors) == len(details):
        first = errors[0]
        raise CarrierResponseError(
            f"{name}: FedEx could not track {text(first, 'TrackingNumber') or 'the shipment'}: "
            f"{text(first, 'Notification/Message') or 'no message'} "
            f"(code {text(first, 'Notification/Code') or '?'})")
    parsed = Parsed()
    for d, detail in enumerate(details, start=1):
        where = f"{name}: TrackDetails[{d}]"
        if detail in errors:
            parsed.rejections.append(Rejection(where, f"FedEx error: "
                                               f"{text(detail, 'Notification/Message')}"))
            continue
        tracking = text(detail, "TrackingNumber")
        if tracking is None:
            parsed.rejections.append(Rejection(where, "no TrackingNumber; skipped"))
            continue
        for e, element in enumerate(detail.findall("Events"), start=1):
            event = _event(element, detail, tracking)
            parsed.add(event, f"{where}/Events[{e}]", recorded_at=recorded_at,
                       api="fedex-track-xml", raw_ref=name)
    return parsed


def _event(element: Element, detail: Element, tracking: str) -> TrackingEvent | str:
    code = text(element, "EventType")
    if code is None:
        return "no EventType; event skipped"
    stamp = text(element, "Timestamp")
    try:
        when = EventTime.iso(stamp or "")
    except ValueError:
        return f"Timestamp {stamp!r} is not ISO-8601; event skipped"
    eta_text = text(detail, "EstimatedDeliveryTimestamp")
    pod = None
    if code == "DL":
        signed = text(detail, "DeliverySignatureName")
        left_at = text(detail, "DeliveryLocationDescription") or text(
            element, "StatusExceptionDescription")
        pod = ProofOfDelivery(signed_by=signed, delivered_to_location=left_at) if (
            signed or left_at) else None
    return TrackingEvent(
        carrier=CARRIER,
        tracking_number=tracking,
        raw_status=raw_status(RawStatusSource.FEDEX, code, text(element, "StatusExceptionCode"),
                              text(element, "EventDescription")),
        time=when,
        location=location(text(element, "Address/City"),
                          text(element, "Address/StateOrProvinceCode"),
                          text(element, "Address/PostalCode"),
                          text(element, "Address/CountryCode")),
        eta=EventTime.iso(eta_text).utc if eta_text else None,
        pod=pod,
        partner_id=text(detail, "CarrierCode"),
    )
