"""USPS Web Tools TrackResponse XML (TrackSummary + TrackDetail) to ShipmentMilestone events.

raw_status: code = EventCode, description = Event. Dates read "April 28, 2015" and times
"9:01 am", local to the event's place without offset (LOCAL_TIME_ASSUMED_UTC). A TrackInfo
holding an <Error> (could not locate, not available) is an error response.
"""

from __future__ import annotations

from datetime import date, datetime, time
from xml.etree.ElementTree import Element

from backbone.events.logistics import RawStatusSource
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

CARRIER = "USPS"


def parse(data: bytes, *, name: str, recorded_at: datetime) -> Parsed:
    root = parse_xml(data, name)
    if root.tag == "Error":
        raise CarrierResponseError(f"{name}: USPS answered with an error: "
                                   f"{text(root, 'Description') or 'no description'}")
    if root.tag != "TrackResponse":
        raise MalformedResponseError(f"{name}: root element is <{root.tag}>, not a USPS "
                                   "<TrackResponse>; check --carrier")
    infos = root.findall("TrackInfo")
    failed = [info for info in infos if info.find("Error") is not None]
    if infos and len(failed) == len(infos):
        first = failed[0]
        raise CarrierResponseError(
            f"{name}: USPS could not track {first.get('ID') or 'the item'}: "
            f"{text(first, 'Error/Description') or 'no description'} "
            f"(error {text(first, 'Error/Number') or '?'})")
    parsed = Parsed()
    for i, info in enumerate(infos, start=1):
        where = f"{name}: TrackInfo[{i}]"
        tracking = (info.get("ID") or "").strip()
        if info in failed or not tracking:
            problem = text(info, "Error/Description") or "no ID attribute"
            parsed.rejections.append(Rejection(where, f"{problem}; skipped"))
            continue
        eta = midnight_utc(_date(text(info, "ExpectedDeliveryDate")
                                 or text(info, "PredictedDeliveryDate")))
        entries = [("TrackSummary", e) for e in info.findall("TrackSummary")]
        entries += [("TrackDetail", e) for e in info.findall("TrackDetail")]
        counts: dict[str, int] = {}
        for tag, entry in entries:
            counts[tag] = counts.get(tag, 0) + 1
            event = _event(entry, tracking, eta)
            parsed.add(event, f"{where}/{tag}[{counts[tag]}]", recorded_at=recorded_at,
                       api="usps-track-xml", raw_ref=name)
    return parsed


def _event(entry: Element, tracking: str, eta: datetime | None) -> TrackingEvent | str:
    code = text(entry, "EventCode")
    if code is None:
        return f"no EventCode (event {text(entry, 'Event')!r}); skipped"
    day = _date(text(entry, "EventDate"))
    if day is None:
        return (f"no valid EventDate (got {text(entry, 'EventDate')!r}) for event "
                f"{text(entry, 'Event')!r}; skipped")
    clock = _time(text(entry, "EventTime"))
    return TrackingEvent(
        carrier=CARRIER,
        tracking_number=tracking,
        raw_status=raw_status(RawStatusSource.USPS, code, None, text(entry, "Event")),
        time=EventTime.local(day, clock),
        location=location(text(entry, "EventCity"), text(entry, "EventState"),
                          text(entry, "EventZIPCode"), text(entry, "EventCountry"),
                          text(entry, "FirmName")),
        eta=eta,
    )


def _date(value: str | None) -> date | None:
    try:
        return datetime.strptime(value, "%B %d, %Y").date() if value else None
    except ValueError:
        return None


def _time(value: str | None) -> time | None:
    try:
        return datetime.strptime(value.upper(), "%I:%M %p").time() if value else None
    except ValueError:
        return None
