"""Carrier tracking responses and webhook bodies to ShipmentMilestone: the carriers' REST APIs
(UPS Track, FedEx Track, USPS Tracking v3, DHL Unified Tracking; JSON), their legacy XML
(UPS, FedEx, USPS Web Tools) and the aggregators' tracker objects (EasyPost, AfterShip,
ShipEngine, Shippo).

`parse(carrier, data, name=..., recorded_at=...)` picks the parser; each returns `Parsed`
(events plus rejections) or raises `CarrierResponseError` for a not-found or error response.
The webhook service, the tracking poller and ``backbone carriers parse`` all call it, so a
replayed recording gives exactly the milestones the live path publishes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from connectors.carriers import (
    aftership,
    dhl,
    easypost,
    fedex,
    fedex_json,
    shipengine,
    shippo,
    ups,
    ups_json,
    usps,
    usps_json,
)
from connectors.carriers.model import (
    CarrierResponseError,
    MalformedResponseError,
    Parsed,
    Rejection,
)

Parser = Callable[..., Parsed]


def _xml_or_json(xml: Parser, json: Parser) -> Parser:
    """UPS, FedEx and USPS answer in XML (legacy APIs) or JSON (REST): the body says which."""

    def parse(data: bytes, *, name: str, recorded_at: datetime,
              tracking_number: str | None = None) -> Parsed:
        if data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"<":
            return xml(data, name=name, recorded_at=recorded_at)
        return json(data, name=name, recorded_at=recorded_at, tracking_number=tracking_number)

    return parse


def _no_hint(parser: Parser) -> Parser:
    def parse(data: bytes, *, name: str, recorded_at: datetime,
              tracking_number: str | None = None) -> Parsed:
        return parser(data, name=name, recorded_at=recorded_at)

    return parse


PARSERS: dict[str, Parser] = {
    "ups": _xml_or_json(ups.parse, ups_json.parse),
    "fedex": _xml_or_json(fedex.parse, fedex_json.parse),
    "usps": _xml_or_json(usps.parse, usps_json.parse),
    "dhl": dhl.parse,
    "easypost": _no_hint(easypost.parse),
    "aftership": aftership.parse,
    "shipengine": shipengine.parse,
    "shippo": shippo.parse,
}


def parse(carrier: str, data: bytes, *, name: str, recorded_at: datetime,
          tracking_number: str | None = None) -> Parsed:
    """Parse one response or webhook body of ``carrier`` (a key of PARSERS).

    ``tracking_number`` is what was asked for, for the answers that do not repeat it (USPS v3).
    """
    try:
        parser = PARSERS[carrier.lower()]
    except KeyError:
        raise CarrierResponseError(
            f"{name}: no parser for carrier {carrier!r}; use one of {', '.join(PARSERS)}"
        ) from None
    return parser(data, name=name, recorded_at=recorded_at, tracking_number=tracking_number)


__all__ = ["PARSERS", "CarrierResponseError", "MalformedResponseError", "Parsed", "Rejection",
           "parse"]
