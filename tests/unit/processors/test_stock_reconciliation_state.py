"""The stock-reconciliation reducer per sku@location: exact positions, breaks and clearings."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from backbone.events import Event
from backbone.events.common import ItemRef, Quantity, Source, SourceSystem
from backbone.events.inventory import (
    GoodsReceipt,
    InventoryDiscrepancy,
    InventoryMovement,
    InventoryPosition,
    InventorySnapshot,
)
from backbone.events.procurement import AdvanceShipNotice, AsnItem, AsnOrder
from backbone.samples import (
    sample_advance_ship_notice,
    sample_goods_receipt,
    sample_inventory_movement,
    sample_inventory_snapshot,
)
from processors.stock_reconciliation.logic import route
from processors.stock_reconciliation.state import ReconciliationRules, apply

SKU, SITE = "SKU-A", "DC-1"
KEY = f"{SKU}@{SITE}"
T0 = datetime(2024, 5, 1, 6, 0, tzinfo=UTC)
H = timedelta(hours=1)
RULES = ReconciliationRules(tolerance=Decimal(2))
_ids = itertools.count(1)


def _id() -> str:
    return f"00000000-0000-4000-8000-{next(_ids):012d}"


def ea(value: int) -> Quantity:
    return Quantity(value=Decimal(value), uom="EA")


def snapshot(system: SourceSystem, on_hand: int, as_of: datetime) -> InventorySnapshot:
    return sample_inventory_snapshot(1).model_copy(update={
        "event_id": _id(), "occurred_at": as_of, "as_of": as_of, "sku": SKU, "location": SITE,
        "snapshot_id": f"{system.value}-{as_of:%H%M}", "source": Source(system=system),
        "quantities": {"ON_HAND": ea(on_hand)}})


def movement(movement_id: str, delta: int, at: datetime) -> InventoryMovement:
    return sample_inventory_movement(1).model_copy(update={
        "event_id": _id(), "occurred_at": at, "sku": SKU, "location": SITE,
        "movement_id": movement_id, "qty_delta": ea(delta)})


def asn(asn_id: str, qty: int, at: datetime) -> AdvanceShipNotice:
    sample = sample_advance_ship_notice(1)
    ship_to = tuple(p.model_copy(update={"id": SITE}) if p.role.value == "SHIP_TO" else p
                    for p in sample.parties)
    return sample.model_copy(update={
        "event_id": _id(), "occurred_at": at, "asn_id": asn_id, "parties": ship_to,
        "orders": (AsnOrder(po_number=sample.po_number, items=(
            AsnItem(line_ref="1", item=ItemRef(sku=SKU), shipped_qty=ea(qty)),
            AsnItem(line_ref="2", item=ItemRef(sku="OTHER"), shipped_qty=ea(99)))),)})


def receipt(asn_id: str, at: datetime) -> GoodsReceipt:
    return sample_goods_receipt(1).model_copy(update={
        "event_id": _id(), "occurred_at": at, "sku": SKU, "location": SITE, "asn_id": asn_id})


class Feed:
    def __init__(self, rules: ReconciliationRules = RULES) -> None:
        self.state: dict[str, Any] | None = None
        self.rules = rules

    def __call__(self, event: Event) -> list[Event]:
        self.state, outputs = apply(self.state, KEY, event, self.rules)
        return outputs


def view(outputs: list[Event]) -> list[tuple[Any, ...]]:
    """Positions as ("P", expected, reported, in transit, delta, open break); breaks and
    clearings as (status, expected, reported, in transit, delta, discrepancy id)."""
    found: list[tuple[Any, ...]] = []
    for output in outputs:
        if isinstance(output, InventoryPosition):
            found.append(("P", _n(output.expected_on_hand), _n(output.reported_on_hand),
                          _n(output.in_transit), _n(output.delta), output.open_break))
        else:
            assert isinstance(output, InventoryDiscrepancy)
            found.append((output.status.value, _n(output.expected_on_hand),
                          _n(output.reported_on_hand), _n(output.in_transit), _n(output.delta),
                          output.discrepancy_id))
    return found


def _n(value: Decimal | None) -> int | None:
    return None if value is None else int(value)


WMS, ERP = SourceSystem.WMS, SourceSystem.ERP


def test_erp_against_wms_opens_a_break_beyond_tolerance_and_clears_it_when_resolved() -> None:
    feed = Feed()
    assert view(feed(snapshot(WMS, 100, T0))) == [("P", 100, None, 0, None, False)]

    opened = feed(snapshot(ERP, 95, T0))
    assert view(opened)[0] == ("P", 100, 95, 0, -5, True)
    [_, breaking] = opened
    assert isinstance(breaking, InventoryDiscrepancy)
    assert (breaking.status.value, breaking.delta, breaking.tolerance, breaking.opened_at,
            breaking.reporting_system, breaking.compared_system, breaking.snapshot_id) == (
        "BREAK", Decimal(-5), Decimal(2), T0, ERP, WMS, "ERP-0600")

    # the WMS books a cycle count of -5: expected 95 now agrees with the books
    cleared = feed(movement("M1", -5, T0 + H))
    assert view(cleared) == [("P", 95, 95, 0, 0, False),
                             ("CLEARED", 95, 95, 0, 0, breaking.discrepancy_id)]
    clearing = cleared[1]
    assert isinstance(clearing, InventoryDiscrepancy)
    assert clearing.cleared_at == T0 + H and clearing.opened_at == T0


def test_a_difference_within_tolerance_opens_no_break() -> None:
    feed = Feed()
    feed(snapshot(WMS, 100, T0))
    assert view(feed(snapshot(ERP, 98, T0))) == [("P", 100, 98, 0, -2, False)]


def test_movements_are_counted_once_by_movement_id() -> None:
    feed = Feed()
    feed(snapshot(WMS, 100, T0))
    assert view(feed(movement("M1", -3, T0 + H))) == [("P", 97, None, 0, None, False)]
    # the same movement resent with a new event id (a 947 sent twice) changes nothing
    assert feed(movement("M1", -3, T0 + H)) == []
    assert view(feed(movement("M2", 10, T0 + 2 * H))) == [("P", 107, None, 0, None, False)]


def test_a_new_snapshot_replaces_the_basis_and_the_movements_it_includes() -> None:
    feed = Feed()
    feed(snapshot(WMS, 100, T0))
    feed(movement("M1", -3, T0 + H))
    feed(movement("M2", 5, T0 + 3 * H))
    # the 02:00 count includes M1 (01:00) but not M2 (03:00)
    assert view(feed(snapshot(WMS, 90, T0 + 2 * H))) == [("P", 95, None, 0, None, False)]
    assert feed.state is not None and sorted(feed.state["movements"]) == ["M2"]


def test_a_late_snapshot_changes_nothing() -> None:
    feed = Feed()
    feed(snapshot(WMS, 100, T0 + 2 * H))
    feed(snapshot(ERP, 100, T0 + 2 * H))
    before = feed.state
    assert feed(snapshot(WMS, 500, T0)) == []  # older than the one in use
    assert feed(snapshot(ERP, 7, T0 + H)) == []
    assert feed.state is not None and before is not None
    assert (feed.state["basis"], feed.state["reported"]) == (before["basis"], before["reported"])


def test_goods_in_transit_are_netted_until_their_receipt() -> None:
    feed = Feed()
    feed(snapshot(WMS, 100, T0))
    feed(snapshot(ERP, 100, T0))
    # the ERP books the 8 shipped on the ASN; the shelves do not have them yet
    assert view(feed(snapshot(ERP, 108, T0 + H)))[0] == ("P", 100, 108, 0, 8, True)
    cleared = feed(asn("ASN1", 8, T0 + H))
    assert view(cleared)[0] == ("P", 100, 108, 8, 0, False)
    assert view(cleared)[1][0] == "CLEARED"
    # received: in transit closes; the WMS receipt movement puts them on the shelf
    assert view(feed(receipt("ASN1", T0 + 2 * H)))[0] == ("P", 100, 108, 0, 8, True)
    assert view(feed(movement("RCV1", 8, T0 + 2 * H)))[0] == ("P", 108, 108, 0, 0, False)


def test_an_asn_arriving_after_its_receipt_is_not_in_transit() -> None:
    feed = Feed()
    feed(snapshot(WMS, 100, T0))
    feed(receipt("ASN1", T0 + 2 * H))
    assert feed(asn("ASN1", 8, T0 + H)) == []
    assert feed.state is not None and feed.state["in_transit"] == {}


def test_duplicated_events_emit_nothing() -> None:
    feed = Feed()
    first = snapshot(WMS, 100, T0)
    feed(first)
    assert feed(first) == []


def test_outputs_are_derived_from_the_input_so_a_replay_is_identical() -> None:
    events = [snapshot(WMS, 100, T0), snapshot(ERP, 90, T0), movement("M1", -10, T0 + H)]
    first, second = Feed(), Feed()
    assert [first(e) for e in events] == [second(e) for e in events]


def test_an_asn_is_routed_to_each_sku_at_its_ship_to_site() -> None:
    shipped = asn("ASN1", 8, T0)
    assert list(route({}, "procurement.asn.v1", shipped)) == [f"OTHER@{SITE}", KEY]
    assert list(route({SITE: "ATL"}, "procurement.asn.v1", shipped)) == ["OTHER@ATL",
                                                                        f"{SKU}@ATL"]
