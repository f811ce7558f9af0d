"""UPS Track API XML (TrackResponse) to ShipmentMilestone events.

raw_status: code = Status/StatusType/Code (I, D, X, P, M), reason_code = Status/StatusCode/Code,
description = the StatusType description. UPS says "OUT FOR DELIVERY" under type I with code DS,
the same code as "DESTINATION SCAN": the description is kept so the mapping can tell them apart.
Times are local wall-clock without offset (LOCAL_TIME_ASSUMED_UTC).
"""

from __future__ import annotations

from datetime import date, datetime, time
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
    midnight_utc,
    parse_xml,
    raw_status,
    text,
)

CARRIER = "UPSN"


def parse(data: bytes, *, name: str, recorded_at: datetime) -> Parsed:
    root = parse_xml(data, name)
    if root.tag != "TrackResponse":
        raise MalformedResponseError(f"{name}: root element is <{root.tag}>, not a UPS "
                                   "<TrackResponse>; check --carrier")
    status = text(root, "Response/ResponseStatusCode")
    if status != "1":
        error = (text(root, "Response/Error/ErrorDescription")
                 or text(root, "Response/ResponseStatusDescription") or "no description")
        code = text(root, "Response/Error/ErrorCode")
        raise CarrierResponseError(f"{name}: UPS answered with an error"
                                   + (f" {code}" if code else "") + f": {error}")
    parsed = Parsed()
    for s, shipment in enumerate(root.findall("Shipment"), start=1):
        for p, package in enumerate(shipment.findall("Package"), start=1):
            tracking = (text(package, "TrackingNumber")
                        or text(shipment, "ShipmentIdentificationNumber"))
            where = f"{name}: Shipment[{s}]/Package[{p}]"
            if tracking is None:
                parsed.rejections.append(Rejection(where, "no TrackingNumber; package skipped"))
                continue
            eta = midnight_utc(_date(text(package, "RescheduledDeliveryDate")
                                     or text(shipment, "ScheduledDeliveryDate")))
            for a, activity in enumerate(package.findall("Activity"), start=1):
                event = _event(activity, tracking, eta)
                parsed.add(event, f"{where}/Activity[{a}]", recorded_at=recorded_at,
                           api="ups-track-xml", raw_ref=name)
    return parsed


def _event(activity: Element, tracking: str, eta: datetime | None) -> TrackingEvent | str:
    type_code = text(activity, "Status/StatusType/Code")
    if type_code is None:
        return "no Status/StatusType/Code; activity skipped"
    day = _date(text(activity, "Date"))
    if day is None:
        return (f"no valid Date (got {text(activity, 'Date')!r}, expected YYYYMMDD); "
                "activity skipped")
    clock = _time(text(activity, "Time"))
    place = activity.find("ActivityLocation")
    pod = None
    if type_code == "D":
        signed = text(place, "SignedForByName")
        left_at = text(place, "Description")
        pod = ProofOfDelivery(signed_by=signed, delivered_to_location=left_at) if (
            signed or left_at) else None
    return TrackingEvent(
        carrier=CARRIER,
        tracking_number=tracking,
        raw_status=raw_status(RawStatusSource.UPS, type_code,
                              text(activity, "Status/StatusCode/Code"),
                              text(activity, "Status/StatusType/Description")),
        time=EventTime.local(day, clock),
        location=location(text(place, "Address/City"), text(place, "Address/StateProvinceCode"),
                          text(place, "Address/PostalCode"), text(place, "Address/CountryCode")),
        eta=eta,
        pod=pod,
    )


def _date(value: str | None) -> date | None:
    try:
        return datetime.strptime(value, "%Y%m%d").date() if value else None
    except ValueError:
        return None


def _time(value: str | None) -> time | None:
    try:
        return datetime.strptime(value, "%H%M%S").time() if value else None
    except ValueError:
        return None
