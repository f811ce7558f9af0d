"""Stock reconciliation as a pure reducer per ``sku@location``: positions, breaks and clearings.

CANONICAL_MODEL.md, stock reconciliation:

- expected on hand = the latest WMS snapshot (it REPLACES, never increments) + WMS movements
  that happened after its ``as_of`` (deltas, de-duplicated by ``movement_id``); a snapshot older
  than the one in use (a late snapshot) changes nothing;
- the ERP's latest snapshot is the reported on hand it is compared with;
- in transit = quantities of ASNs shipped to the location and not yet received (a GoodsReceipt
  naming the ASN closes it); the ERP books goods on the ASN, so
  ``delta = reported - expected - in_transit``;
- ``|delta| > tolerance`` opens a BREAK (once), back within tolerance emits its CLEARED.

Every input emits the InventoryPosition when it changed it. Quantities in base units. Output ids
are derived from the input event id, so a replay produces identical records. State is a JSON dict.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from backbone.events import Event
from backbone.events.common import Correlation, Quantity, Source, SourceSystem
from backbone.events.inventory import (
    DiscrepancyStatus,
    GoodsReceipt,
    InventoryDiscrepancy,
    InventoryMovement,
    InventoryPosition,
    InventorySnapshot,
)
from backbone.events.procurement import AdvanceShipNotice

MAX_MOVEMENTS = 1024
_NAMESPACE = uuid.UUID("9a4c2b1e-5d3f-4e6a-8b7c-1d2e3f4a5b6c")
_ZERO = Decimal(0)
ON_HAND = "ON_HAND"


@dataclass(frozen=True)
class ReconciliationRules:
    tolerance: Decimal = _ZERO
    reporting_system: SourceSystem = SourceSystem.ERP  # the books
    counting_system: SourceSystem = SourceSystem.WMS  # the shelves: basis of expected on hand


def _base(quantity: Quantity) -> Decimal:
    return quantity.base_value if quantity.base_value is not None else quantity.value


def empty_state(key: str) -> dict[str, Any]:
    sku, _, location = key.partition("@")
    return {"sku": sku, "location": location, "uom": "EA", "basis": None, "reported": None,
            "movements": {}, "in_transit": {}, "received_asns": [], "break": None,
            "seen": []}


def apply(state: dict[str, Any] | None, key: str, event: Event, rules: ReconciliationRules
          ) -> tuple[dict[str, Any], list[Event]]:
    """Apply one event; the new state and the events to publish (position, break, clearing)."""
    before = state or empty_state(key)
    if event.event_id in before["seen"]:
        return before, []
    current = {**before, "movements": dict(before["movements"]),
               "in_transit": dict(before["in_transit"]),
               "seen": [*before["seen"], event.event_id][-MAX_MOVEMENTS:]}
    if isinstance(event, InventorySnapshot):
        _snapshot(current, event, rules)
    elif isinstance(event, InventoryMovement):
        if event.movement_id not in current["movements"]:
            current["movements"][event.movement_id] = [event.occurred_at.isoformat(),
                                                       str(_base(event.qty_delta))]
    elif isinstance(event, AdvanceShipNotice):
        if event.asn_id not in current["received_asns"]:
            current["in_transit"][event.asn_id] = str(_asn_quantity(event, current["sku"]))
    elif isinstance(event, GoodsReceipt):
        if event.asn_id:
            current["in_transit"].pop(event.asn_id, None)
            current["received_asns"] = [*current["received_asns"], event.asn_id][-256:]
    else:
        raise TypeError(f"stock_reconciliation does not handle {event.event_type_name()}")
    _prune(current)
    if _view(current) == _view(before):
        return current, []
    return current, _outputs(current, event, rules)


def _snapshot(state: dict[str, Any], event: InventorySnapshot, rules: ReconciliationRules
              ) -> None:
    quantity = event.quantities.get(ON_HAND)
    if quantity is None:
        return  # a partial snapshot without on hand says nothing about it
    entry = {"id": event.snapshot_id, "as_of": event.as_of.isoformat(),
             "on_hand": str(_base(quantity))}
    slot = "basis" if event.source.system == rules.counting_system else "reported"
    held = state[slot]
    if held is not None and held["as_of"] > entry["as_of"]:
        return  # a late snapshot: older than the one in use, replaces nothing
    state[slot] = entry
    state["uom"] = quantity.base_uom or quantity.uom


def _asn_quantity(event: AdvanceShipNotice, sku: str) -> Decimal:
    return sum((_base(item.shipped_qty) for order in event.orders for item in order.items
                if item.item.sku == sku), _ZERO)


def _prune(state: dict[str, Any]) -> None:
    """Movements at or before the basis snapshot are in it already."""
    basis = state["basis"]
    if basis is not None:
        state["movements"] = {mid: m for mid, m in state["movements"].items()
                              if m[0] > basis["as_of"]}


def _view(state: dict[str, Any]) -> tuple[Any, ...]:
    return (state["basis"], state["reported"], state["in_transit"], sorted(state["movements"]))


def figures(state: dict[str, Any]) -> tuple[Decimal, Decimal | None, Decimal, Decimal | None]:
    """(expected on hand, reported on hand, in transit, delta)."""
    basis = Decimal(state["basis"]["on_hand"]) if state["basis"] else _ZERO
    expected = basis + sum((Decimal(m[1]) for m in state["movements"].values()), _ZERO)
    reported = Decimal(state["reported"]["on_hand"]) if state["reported"] else None
    in_transit = sum((Decimal(q) for q in state["in_transit"].values()), _ZERO)
    delta = None if reported is None or state["basis"] is None else (
        reported - expected - in_transit)
    return expected, reported, in_transit, delta


def _outputs(state: dict[str, Any], event: Event, rules: ReconciliationRules) -> list[Event]:
    expected, reported, in_transit, delta = figures(state)
    common: dict[str, Any] = {
        "occurred_at": event.occurred_at, "recorded_at": event.recorded_at,
        "source": Source(system=SourceSystem.BACKBONE, instance="stock-reconciliation"),
        "correlation": Correlation(causation_id=event.event_id),
        "sku": state["sku"], "location": state["location"], "uom": state["uom"],
        "tolerance": rules.tolerance, "reporting_system": rules.reporting_system,
        "compared_system": rules.counting_system,
    }
    key = f"{state['sku']}@{state['location']}"
    outputs: list[Event] = []
    opened = state["break"]
    if delta is not None and abs(delta) > rules.tolerance and opened is None:
        discrepancy_id = str(uuid.uuid5(_NAMESPACE, f"break:{key}:{event.event_id}"))
        state["break"] = {"id": discrepancy_id, "opened_at": event.occurred_at.isoformat()}
        outputs.append(_discrepancy(common, state, DiscrepancyStatus.BREAK, expected,
                                    reported, in_transit, delta, event, None))
    elif delta is not None and abs(delta) <= rules.tolerance and opened is not None:
        outputs.append(_discrepancy(common, state, DiscrepancyStatus.CLEARED, expected,
                                    reported, in_transit, delta, event, event.occurred_at))
        state["break"] = None
    basis = state["basis"]
    position = InventoryPosition(
        event_id=str(uuid.uuid5(_NAMESPACE, f"position:{key}:{event.event_id}")),
        idempotency_key=f"stock-reconciliation:position:{key}:{event.event_id}",
        **common, expected_on_hand=expected, reported_on_hand=reported, in_transit=in_transit,
        delta=delta, basis_snapshot_id=basis["id"] if basis else None,
        basis_as_of=datetime.fromisoformat(basis["as_of"]) if basis else None,
        movements_applied=len(state["movements"]), open_break=state["break"] is not None,
    )
    return [position, *outputs]


def _discrepancy(common: dict[str, Any], state: dict[str, Any], status: DiscrepancyStatus,
                 expected: Decimal, reported: Decimal | None, in_transit: Decimal,
                 delta: Decimal, event: Event, cleared_at: datetime | None
                 ) -> InventoryDiscrepancy:
    opened = state["break"]
    assert opened is not None and reported is not None
    return InventoryDiscrepancy(
        event_id=str(uuid.uuid5(_NAMESPACE, f"{status.value}:{opened['id']}")),
        idempotency_key=f"stock-reconciliation:{status.value}:{opened['id']}",
        **common, discrepancy_id=opened["id"], status=status, expected_on_hand=expected,
        reported_on_hand=reported, in_transit=in_transit, delta=delta,
        snapshot_id=(state["reported"] or {}).get("id"),
        opened_at=datetime.fromisoformat(opened["opened_at"]), cleared_at=cleared_at,
    )
