"""Carrier tracking responses (UPS, FedEx, USPS XML; EasyPost-style JSON) to ShipmentMilestone.

`parse(carrier, data, name=..., recorded_at=...)` picks the parser; each returns `Parsed`
(events plus rejections) or raises `CarrierResponseError` for a not-found or error response.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from connectors.carriers import easypost, fedex, ups, usps
from connectors.carriers.model import CarrierResponseError, Parsed, Rejection

Parser = Callable[..., Parsed]
PARSERS: dict[str, Parser] = {
    "ups": ups.parse,
    "fedex": fedex.parse,
    "usps": usps.parse,
    "easypost": easypost.parse,
}


def parse(carrier: str, data: bytes, *, name: str, recorded_at: datetime) -> Parsed:
    """Parse one response of ``carrier`` (ups, fedex, usps, easypost)."""
    try:
        parser = PARSERS[carrier.lower()]
    except KeyError:
        raise CarrierResponseError(
            f"{name}: no parser for carrier {carrier!r}; use one of {', '.join(PARSERS)}") from None
    return parser(data, name=name, recorded_at=recorded_at)


__all__ = ["PARSERS", "CarrierResponseError", "Parsed", "Rejection", "parse"]
