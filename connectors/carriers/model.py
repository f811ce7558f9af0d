"""What every carrier parser returns, and the one way they build a ShipmentMilestone.

A parser turns one tracking response (or one webhook body) into `Parsed`: the events it could
read and a rejection per part it could not. A response that says "not found" or "error" is a
`CarrierResponseError`: no events at all, never half a response.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeElementTree
from defusedxml import DefusedXmlException

from backbone.events.common import (
    Correlation,
    DocumentRef,
    DocumentStandard,
    Source,
    SourceSystem,
)
from backbone.events.logistics import (
    EventTimePrecision,
    ProofOfDelivery,
    RawStatus,
    RawStatusSource,
    ShipmentLocation,
    ShipmentMilestone,
)

_EVENT_NAMESPACE = uuid.UUID("0d7c8a4e-6a43-4f57-9a53-2f0e3f1b9c21")
_MINUTE = timedelta(minutes=1)
# No zone on Earth is further from UTC than 14 hours; anything beyond is not an offset.
MAX_OFFSET_MINUTES = 14 * 60


class CarrierResponseError(ValueError):
    """A response that carries no tracking: not found, an error, or not the format expected."""


class MalformedResponseError(CarrierResponseError):
    """A response that is not the format expected at all (not JSON or XML, the wrong shape):
    unlike a carrier's "not found" or error answer, nothing a later poll would change. The
    tracking poller dead-letters these."""


@dataclass(frozen=True)
class EventTime:
    """A carrier's event time as UTC plus what is known about its offset."""

    utc: datetime
    offset_minutes: int | None
    precision: EventTimePrecision

    @classmethod
    def local(cls, day: date, at: time | None) -> EventTime:
        """A wall-clock time without offset: kept as if it were UTC, and flagged so."""
        if at is None:
            return cls(datetime.combine(day, time(), UTC), None, EventTimePrecision.DATE_ONLY)
        return cls(datetime.combine(day, at, UTC), None, EventTimePrecision.LOCAL_TIME_ASSUMED_UTC)

    @classmethod
    def iso(cls, text: str) -> EventTime:
        """ISO-8601 with or without an offset (raises ValueError, also for a time that leaves
        the representable range once moved to UTC, such as year 9999 at -05:00)."""
        parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        offset = parsed.utcoffset()
        if offset is None:
            return cls(parsed.replace(tzinfo=UTC), None, EventTimePrecision.LOCAL_TIME_ASSUMED_UTC)
        try:
            return cls(parsed.astimezone(UTC), int(offset / _MINUTE), EventTimePrecision.EXACT)
        except OverflowError:
            raise ValueError(f"{text.strip()[:40]!r} is out of range in UTC") from None

    @classmethod
    def resolve(cls, local: str, *, offset: str | None = None,
                utc: str | None = None) -> EventTime:
        """A time the provider gives as local wall-clock, placed with what else it says.

        ``local`` with its own offset is EXACT. Without one, the offset the provider gives
        beside it (``offset``: "-05:00") or the UTC instant it also gives (``utc``) place it
        exactly; with neither it is kept as if UTC and flagged LOCAL_TIME_ASSUMED_UTC.
        Raises ValueError when ``local`` (or a given ``offset``/``utc``) is not ISO-8601.
        """
        try:
            return cls._resolve(local, offset, utc)
        except OverflowError:
            raise ValueError(f"{local.strip()[:40]!r} is out of range in UTC") from None

    @classmethod
    def _resolve(cls, local: str, offset: str | None, utc: str | None) -> EventTime:
        read = cls.iso(local)
        if read.offset_minutes is not None:
            return read
        wall = read.utc.replace(tzinfo=None)
        if offset:
            zone = datetime.fromisoformat("2000-01-01T00:00:00" + offset.strip()).utcoffset()
            if zone is None:
                raise ValueError(f"offset {offset!r} is not +HH:MM")
            minutes = int(zone / _MINUTE)
            return cls((wall - zone).replace(tzinfo=UTC), minutes, EventTimePrecision.EXACT)
        if utc:
            instant = cls.iso(utc)
            if instant.offset_minutes is not None:
                # Carriers' UTC stamps carry seconds their local ones drop: round the offset
                # to the quarter hour every real zone is a multiple of.
                raw = (wall - instant.utc.replace(tzinfo=None)) / _MINUTE
                minutes = int(round(raw / 15) * 15)
                if abs(minutes) > MAX_OFFSET_MINUTES:
                    return read  # the two stamps are not the same instant: leave it flagged
                return cls((wall - timedelta(minutes=minutes)).replace(tzinfo=UTC), minutes,
                           EventTimePrecision.EXACT)
        return read


@dataclass(frozen=True)
class Rejection:
    """A part of a response that could not become an event, and why."""

    position: str
    problem: str


@dataclass
class Parsed:
    """The events of one response and what was skipped."""

    events: list[ShipmentMilestone] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)

    def add(self, event: TrackingEvent | str, where: str, *, recorded_at: datetime, api: str,
            raw_ref: str) -> None:
        """Keep a parsed event as a milestone, or a reason (``str``) as a rejection."""
        if isinstance(event, str):
            self.rejections.append(Rejection(where, event))
        else:
            self.events.append(milestone(event, recorded_at=recorded_at, api=api,
                                         raw_ref=raw_ref))


@dataclass(frozen=True)
class TrackingEvent:
    """One carrier event, before it gets its envelope."""

    carrier: str
    tracking_number: str
    raw_status: RawStatus
    time: EventTime
    location: ShipmentLocation | None = None
    eta: datetime | None = None
    pod: ProofOfDelivery | None = None
    partner_id: str | None = None


def milestone(event: TrackingEvent, *, recorded_at: datetime, api: str,
              raw_ref: str | None = None) -> ShipmentMilestone:
    """The canonical event; its id and idempotency key are stable across re-parses."""
    raw = event.raw_status
    key = ":".join(part for part in (
        event.carrier, event.tracking_number, raw.code, raw.reason_code,
        f"{event.time.utc:%Y%m%dT%H%M%S}",
    ) if part)
    return ShipmentMilestone(
        event_id=str(uuid.uuid5(_EVENT_NAMESPACE, key)),
        occurred_at=event.time.utc,
        occurred_at_offset_minutes=event.time.offset_minutes,
        recorded_at=recorded_at,
        source=_source(raw.source, event.partner_id or event.carrier, api, raw_ref),
        correlation=_correlation(event.tracking_number),
        idempotency_key=key,
        carrier=event.carrier,
        tracking_number=event.tracking_number,
        raw_status=raw,
        event_time=event.time.utc,
        event_time_offset_minutes=event.time.offset_minutes,
        event_time_precision=event.time.precision,
        location=event.location,
        eta=event.eta,
        pod=event.pod,
    )


# The envelope parts every event of one answer shares; the models are frozen, so one instance
# serves them all (building them was a third of the parse time, bench/carriers.py).
@lru_cache(maxsize=256)
def _source(source: RawStatusSource, partner_id: str, api: str, raw_ref: str | None) -> Source:
    return Source(system=SourceSystem.CARRIER, instance=source.value.lower(),
                  partner_id=partner_id,
                  document=DocumentRef(standard=DocumentStandard.API, transaction_set=api,
                                       raw_ref=raw_ref))


@lru_cache(maxsize=1024)
def _correlation(tracking_number: str) -> Correlation:
    return Correlation(tracking_numbers=(tracking_number,))


def raw_status(source: RawStatusSource, code: str, reason_code: str | None = None,
               description: str | None = None) -> RawStatus:
    return RawStatus(source=source, code=code, reason_code=reason_code or None,
                     description=description or None)


def location(city: str | None = None, region: str | None = None, postal_code: str | None = None,
             country: str | None = None, name: str | None = None) -> ShipmentLocation | None:
    """A location, or None when the carrier gave no part of it."""
    parts = {"city": city, "region": region, "postal_code": postal_code, "country": country,
             "name": name}
    cleaned = {k: v.strip() for k, v in parts.items() if v and v.strip()}
    return ShipmentLocation(**cleaned) if cleaned else None


def parse_xml(data: bytes, name: str) -> Element:
    """The root element; refuses DTDs and entity expansion (billion laughs, XXE)."""
    try:
        root: Element = SafeElementTree.fromstring(data, forbid_dtd=True)
    except DefusedXmlException as error:
        raise MalformedResponseError(
            f"{name}: refused: the XML declares a DTD or entities ({type(error).__name__}); "
            "carrier responses never need them") from None
    except SafeElementTree.ParseError as error:
        raise MalformedResponseError(f"{name}: not well-formed XML ({error}); is this the "
                                   "carrier's raw response body?") from None
    except (LookupError, ValueError) as error:
        # expat raises these for an XML declaration naming an encoding it does not know
        # (LookupError) or cannot stream (ValueError: multi-byte encodings such as UTF-32).
        raise MalformedResponseError(f"{name}: the XML declaration names an encoding that cannot "
                                   f"be read ({error}); carriers send UTF-8") from None
    for element in root.iter():
        if isinstance(element.tag, str) and element.tag.startswith("{"):
            element.tag = element.tag.split("}", 1)[1]
    return root


def text(element: Element | None, path: str) -> str | None:
    """Stripped text at ``path`` or None when absent or blank."""
    if element is None:
        return None
    value = element.findtext(path)
    return value.strip() or None if value is not None else None


def midnight_utc(day: date | None) -> datetime | None:
    return datetime.combine(day, time(), UTC) if day is not None else None


def load_json_object(data: bytes, name: str, expected: str) -> dict[str, Any]:
    """:func:`load_json` of a body that must be a JSON object (every REST tracking answer)."""
    body = load_json(data, name, expected)
    if not isinstance(body, dict):
        raise MalformedResponseError(f"{name}: expected a JSON object, got "
                                     f"{type(body).__name__}; expected {expected}")
    return body


def load_json(data: bytes, name: str, expected: str) -> Any:
    """The decoded JSON body; CarrierResponseError (naming ``expected``) when it is not JSON.

    Besides malformed text this refuses what json.loads raises other errors for: an integer
    longer than Python's int() digit limit (ValueError) and nesting deeper than the recursion
    limit (RecursionError); either would otherwise end the process with a traceback.
    """
    try:
        return json.loads(data)
    except RecursionError:
        raise MalformedResponseError(f"{name}: JSON nested too deeply to read; expected "
                                   f"{expected}") from None
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError, the int digit limit
        raise MalformedResponseError(f"{name}: not JSON ({_short(error)}); expected {expected}"
                                   ) from None


def _short(error: Exception, limit: int = 160) -> str:
    text = str(error)
    return text if len(text) <= limit else text[:limit] + "..."


# Carrier names as aggregators and carriers' own APIs spell them, to the codes the carriers'
# parsers use (SCAC where there is one), so one shipment tracked several ways has one key.
CARRIER_CODES = {
    "UPS": "UPSN", "UPSN": "UPSN", "FEDEX": "FDX", "FDX": "FDX", "FDXE": "FDX", "FDXG": "FDX",
    "USPS": "USPS", "STAMPS_COM": "USPS", "DHL": "DHL", "DHL_EXPRESS": "DHL",
    "DHLEXPRESS": "DHL", "DHL_ECOMMERCE": "DHL",
}


def carrier_code(name: str | None) -> str:
    """Our carrier code for a provider's carrier name (unknown names kept, upper-cased)."""
    key = (name or "UNKNOWN").strip().upper().replace("-", "_").replace(" ", "_")
    return CARRIER_CODES.get(key, key)


def as_object(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one (absent or mistyped parts)."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    """``value`` when it is a JSON array, else an empty one."""
    return value if isinstance(value, list) else []


def field_text(value: Any) -> str | None:
    """A scalar JSON value as stripped text; None for null, blank, objects and arrays."""
    if value is None or isinstance(value, (dict, list)):
        return None
    return str(value).strip() or None
