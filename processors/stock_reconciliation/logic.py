"""Stock reconciliation's stateless part: which ``sku@location`` an event concerns, and the check.

Snapshots, movements and receipts are keyed ``sku@location`` already; an ASN (keyed by PO) is
fanned out to ``<sku>@<ship-to location>`` for each SKU it ships, re-keyed by the engine (Quix
``group_by``). The ship-to location is the SHIP_TO party's id, translated to our site id with
BACKBONE_STOCK_SITES (a JSON map, e.g. GLN -> site id) when the partner sends a GLN.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from backbone.events import Event
from backbone.events.procurement import AdvanceShipNotice
from backbone.serde import AvroSerde
from backbone.settings import Settings
from backbone.topics import Topic


def ship_to(event: AdvanceShipNotice, sites: Mapping[str, str]) -> str | None:
    for party in event.parties:
        if party.role.value == "SHIP_TO" and party.id:
            return sites.get(party.id, party.id)
    return None


def route(sites: Mapping[str, str], topic: str, event: Event) -> Sequence[str]:
    """The ``sku@location`` keys ``event`` concerns."""
    if isinstance(event, AdvanceShipNotice):
        location = ship_to(event, sites)
        if location is None:
            return []
        skus = {item.item.sku for order in event.orders for item in order.items if item.item.sku}
        return [f"{sku}@{location}" for sku in sorted(skus)]
    return [f"{event.sku}@{event.location}"]  # type: ignore[attr-defined]


def check(topic: Topic, value: bytes | None, serde: AvroSerde, settings: Settings) -> None:
    """Dry check for ``dlq replay --dry-run``: the record decodes and validates."""
    serde.deserialize(topic, value)
