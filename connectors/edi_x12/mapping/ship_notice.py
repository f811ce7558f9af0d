"""Maps X12 856 (ship notice/manifest) to AdvanceShipNotice, building the HL tree.

The tree is built from HL01/HL02, never from segment order. Tolerated: missing levels (S-O-I
without packs, S-I without orders: items then go to one order named by the first PRF or by
BSN02), an empty HL02 (the node hangs under the nearest preceding node of a higher level,
with a warning).
Rejected with the HL's position: a duplicate HL01, an HL02 naming an HL that does not exist,
and parents that point at each other (a cycle).

Each level keeps what it says: TD1 / TD5 / TD3 / REF*BM / REF*CN at the shipment level fill
the ASN's carrier, lading and weight, at an order level the order's; MEA G / WT weights go to
the pack, tare or item they sit under; REF*CN at a pack level is the package's tracking
number when MAN gives none. An item-level PRF (pick and pack files name the PO per item) puts
the item in that PO's order. Lots: LIN LT pairs and every REF*LS / REF*LT of the item. An
empty HL02 is a warning naming the parent chosen.

Handling units (T tare / P pack levels, MAN segments) go to their nearest order ancestor, or,
above the order level (S-T-O-...), to every order below them. MAN GM / AA are SSCC-18 (GM
with its "00" application identifier); MAN CP / SM are carrier / shipper package ids, kept as
`tracking_number`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from backbone.events import (
    AdvanceShipNotice,
    AsnItem,
    AsnOrder,
    CarrierRef,
    Correlation,
    Event,
    HandlingUnit,
    HandlingUnitType,
    HierarchyNode,
    Lot,
    Quantity,
)
from connectors.edi_x12.mapping.common import (
    SetContext,
    combine,
    description_of,
    id_pairs,
    item_ref,
    parties,
    quantity,
    references,
    split_loops,
    sscc_of,
    text,
)
from connectors.edi_x12.model import Segment

UNIT_TYPES = {"T": HandlingUnitType.PALLET, "P": HandlingUnitType.CARTON,
              "Q": HandlingUnitType.PACK}
# How deep a level usually sits, to hang an HL with an empty HL02 under the right node.
_LEVEL_RANK = {"S": 0, "O": 1, "T": 2, "P": 3, "Q": 4, "I": 5, "F": 6}


@dataclass
class _Node:
    hl: Segment
    hl_id: str
    parent_id: str | None
    level: str
    segments: list[Segment]
    children: list[_Node] = field(default_factory=list)


def map_ship_notice(ctx: SetContext) -> list[Event]:
    """856 -> one AdvanceShipNotice."""
    bsn = ctx.require("BSN")
    asn_id = text(bsn, 2)
    if asn_id is None:
        raise ctx.fail(bsn, "BSN02 (shipment id) is empty", "an ASN needs its shipment id")
    body = [s for s in ctx.body if s.tag != "CTT"]
    head, loops = split_loops(body, "HL")
    nodes = _tree(ctx, loops)
    shipment_segments = [*head, *(s for n in nodes if n.level == "S" for s in n.segments)]
    td1 = next((s for s in shipment_segments if s.tag == "TD1"), None)
    carrier = _carrier(shipment_segments) or CarrierRef()
    shipped_at = None
    eta = None
    for segment in shipment_segments:
        if segment.tag == "DTM" and segment.element(1).strip() == "011" and shipped_at is None:
            day = ctx.date_of(segment, 2)
            shipped_at = combine(day, segment.element(3)) if day else None
        if segment.tag == "DTM" and segment.element(1).strip() in ("017", "067") and eta is None:
            day = ctx.date_of(segment, 2)
            eta = combine(day, segment.element(3)) if day else None
    orders = _orders(ctx, nodes, asn_id)
    # Everything that may add a warning is read before the envelope copies the warnings.
    shipment_parties = parties(ctx, shipment_segments)
    lading, weight = _lading(ctx, td1)
    po_number = orders[0].po_number
    bsn_day = ctx.date_of(bsn, 3)
    occurred = shipped_at or (combine(bsn_day, bsn.element(4)) if bsn_day else None)
    return [
        AdvanceShipNotice(
            **ctx.envelope(
                ctx.key(),
                correlation=Correlation(po_number=po_number, asn_id=asn_id, bol=carrier.bol,
                                        pro=carrier.pro),
            ),
            occurred_at=occurred or ctx.document_time(),
            buyer=ctx.receiver,
            po_number=po_number,
            asn_id=asn_id,
            purpose_raw=text(bsn, 1),
            shipped_at=shipped_at,
            eta=eta,
            hierarchy_structure_raw=text(bsn, 5),
            carrier=carrier,
            lading_quantity=lading,
            gross_weight=weight,
            parties=shipment_parties,
            orders=tuple(orders),
            hierarchy=tuple(
                HierarchyNode(hl_id=n.hl_id, parent_id=n.parent_id, level_raw=n.level)
                for n in nodes
            ),
        )
    ]


def _carrier(segments: list[Segment]) -> CarrierRef | None:
    """TD5 (SCAC, mode, name), TD3 (equipment), REF*BM / REF*CN of one level; None if none."""
    td5 = next((s for s in segments if s.tag == "TD5"), None)
    td3 = next((s for s in segments if s.tag == "TD3"), None)
    refs = references(segments)
    if td5 is None and td3 is None and "BM" not in refs and "CN" not in refs:
        return None
    return CarrierRef(
        scac=text(td5, 3) if td5 else None,
        name=text(td5, 5) if td5 else None,
        mode_raw=text(td5, 4) if td5 else None,
        pro=refs.get("CN"),
        bol=refs.get("BM"),
        equipment_number=(text(td3, 3) if td3 else None),
    )


def _lading(ctx: SetContext, td1: Segment | None) -> tuple[Quantity | None, Quantity | None]:
    """(lading quantity TD102/TD101, gross weight TD107/TD108) of a TD1."""
    if td1 is None:
        return None, None
    lading = quantity(ctx, td1, 2, 1) if text(td1, 2) else None
    weight = quantity(ctx, td1, 7, 8) if text(td1, 7) else None
    return lading, weight


_WEIGHT_QUALIFIERS = frozenset({"G", "WT"})  # MEA02 (element 738): gross weight, weight


def _weight(ctx: SetContext, segments: list[Segment]) -> Quantity | None:
    """Gross weight from the first MEA with MEA02 G or WT; MEA04 is a composite unit."""
    for mea in segments:
        if mea.tag != "MEA" or mea.element(2).strip() not in _WEIGHT_QUALIFIERS:
            continue
        value = ctx.number(mea, 3)
        if value is None:
            continue
        uom = ctx.interchange.delimiters.components(mea.element(4))[0].strip()
        if not uom:
            ctx.warn(mea, "MEA04 (unit of measure) is empty; the weight was left out")
            continue
        return Quantity(value=value, uom=uom)
    return None


def _lots(node_segments: list[Segment], lin: Segment | None) -> tuple[Lot, ...]:
    """Lot numbers: LIN pairs LT, and every REF*LS / REF*LT of the level."""
    numbers = [value for qualifier, value in (id_pairs(lin, 2) if lin else ())
               if qualifier == "LT"]
    numbers += [ref.element(2).strip() for ref in node_segments
                if ref.tag == "REF" and ref.element(1).strip() in ("LS", "LT")
                and ref.element(2).strip()]
    return tuple(Lot(lot_number=number) for number in dict.fromkeys(numbers))


def _tree(ctx: SetContext, loops: list[list[Segment]]) -> list[_Node]:
    """HL loops as nodes with parent links checked; in file order."""
    nodes: list[_Node] = []
    by_id: dict[str, _Node] = {}
    for loop in loops:
        hl = loop[0]
        hl_id = text(hl, 1)
        if hl_id is None:
            raise ctx.fail(hl, "HL01 (hierarchical id) is empty", "every HL needs its own id")
        if hl_id in by_id:
            raise ctx.fail(hl, f"HL01 {hl_id!r} is used twice (first at segment "
                           f"{by_id[hl_id].hl.segment_index})", "HL ids must be unique")
        level = hl.element(3).strip()
        parent_id = text(hl, 2)
        if parent_id is None and nodes and level != "S":
            # Empty HL02: hang it under the nearest earlier node of a higher level, and say so.
            rank = _LEVEL_RANK.get(level, 9)
            parent_id = next(
                (n.hl_id for n in reversed(nodes) if _LEVEL_RANK.get(n.level, 9) < rank), None
            )
            if parent_id is not None:
                ctx.warn(hl, f"HL02 (parent id) of HL {hl_id} (level {level!r}) is empty; "
                         f"placed under HL {parent_id}, the nearest earlier higher level")
        node = _Node(hl, hl_id, parent_id, level, loop[1:])
        nodes.append(node)
        by_id[hl_id] = node
    for node in nodes:
        if node.parent_id is None:
            continue
        parent = by_id.get(node.parent_id)
        if parent is None:
            raise ctx.fail(node.hl, f"HL {node.hl_id} names parent {node.parent_id!r}, which "
                           "is not an HL of this set", "the HL tree is broken")
        parent.children.append(node)
    for node in nodes:
        seen = {node.hl_id}
        current = node
        while current.parent_id is not None:
            if current.parent_id in seen:
                raise ctx.fail(node.hl, f"HL {node.hl_id}: parents loop back "
                               f"({' -> '.join([*seen, current.parent_id])})",
                               "HL parents must form a tree")
            seen.add(current.parent_id)
            current = by_id[current.parent_id]
    return nodes


def _ancestors(node: _Node, by_id: dict[str, _Node]) -> list[_Node]:
    found = []
    current = node
    while current.parent_id is not None:
        current = by_id[current.parent_id]
        found.append(current)
    return found


def _descendants(node: _Node) -> list[_Node]:
    found = []
    stack = list(node.children)
    while stack:
        child = stack.pop(0)
        found.append(child)
        stack.extend(child.children)
    return found


@dataclass
class _OrderDraft:
    hl_id: str | None
    po_number: str
    po_date: date | None = None
    units: list[HandlingUnit] = field(default_factory=list)
    items: list[AsnItem] = field(default_factory=list)
    carrier: CarrierRef | None = None
    lading: Quantity | None = None
    weight: Quantity | None = None


def _orders(ctx: SetContext, nodes: list[_Node], asn_id: str) -> list[AsnOrder]:
    by_id = {n.hl_id: n for n in nodes}
    drafts: dict[str, _OrderDraft] = {}
    for node in nodes:
        if node.level == "O":
            prf = next((s for s in node.segments if s.tag == "PRF"), None)
            po = text(prf, 1) if prf else None
            if po is None:
                po = references(node.segments).get("PO")
            if po is None:
                raise ctx.fail(node.hl, f"order level HL {node.hl_id} has no PRF01 "
                               "purchase order number", "each order level names its PO")
            draft = _OrderDraft(node.hl_id, po, ctx.date_of(prf, 4) if prf else None)
            draft.carrier = _carrier(node.segments)
            td1 = next((s for s in node.segments if s.tag == "TD1"), None)
            draft.lading, draft.weight = _lading(ctx, td1)
            draft.weight = draft.weight or _weight(ctx, node.segments)
            drafts[node.hl_id] = draft
    fallback: _OrderDraft | None = None
    item_orders: dict[str, _OrderDraft] = {}  # PO of an item-level PRF -> its order

    def orders_for(node: _Node) -> list[_OrderDraft]:
        nonlocal fallback
        for ancestor in _ancestors(node, by_id):
            if ancestor.hl_id in drafts:
                return [drafts[ancestor.hl_id]]
        below = [drafts[n.hl_id] for n in _descendants(node) if n.hl_id in drafts]
        if below:
            return below
        if fallback is None:
            prf = next((s for n in nodes for s in n.segments if s.tag == "PRF"), None)
            po = (text(prf, 1) if prf else None) or asn_id
            named = next((d for d in drafts.values() if d.po_number == po), None)
            if named is not None:  # that PO has its order level already: one order, not two
                return [named]
            if prf is None:
                ctx.warn(node.hl, f"no order level (O) nor PRF: items filed under ASN {asn_id}")
            fallback = _OrderDraft(None, po)
        return [fallback]

    for node in nodes:
        if node.level in UNIT_TYPES or (node.level not in ("S", "O", "I")
                                        and any(s.tag == "MAN" for s in node.segments)):
            for unit in _units(ctx, node):
                for draft in orders_for(node):
                    draft.units.append(unit)
        elif node.level == "I":
            own = _own_order(ctx, node, drafts, item_orders)
            (own or orders_for(node)[0]).items.append(_item(ctx, node))
    ordered = [*drafts.values(), *item_orders.values()]
    if fallback is not None:
        ordered.append(fallback)
    if not ordered:
        raise ctx.fail(None, "the ASN names no order (no HL O level, no PRF) and no item",
                       "an 856 must ship something")
    return [
        AsnOrder(hl_id=d.hl_id, po_number=d.po_number, po_date=d.po_date,
                 handling_units=tuple(d.units), items=tuple(d.items), carrier=d.carrier,
                 lading_quantity=d.lading, gross_weight=d.weight)
        for d in ordered
    ]


def _own_order(ctx: SetContext, node: _Node, drafts: dict[str, _OrderDraft],
               item_orders: dict[str, _OrderDraft]) -> _OrderDraft | None:
    """The order an item names itself (PRF at the item level: pick and pack files carry the
    PO per item); the order level's draft when it is the same PO."""
    prf = next((s for s in node.segments if s.tag == "PRF"), None)
    po = text(prf, 1) if prf else None
    if prf is None or po is None:
        return None
    for draft in drafts.values():
        if draft.po_number == po:
            return draft
    if po not in item_orders:
        item_orders[po] = _OrderDraft(None, po, ctx.date_of(prf, 4))
    return item_orders[po]


def _units(ctx: SetContext, node: _Node) -> list[HandlingUnit]:
    unit_type = UNIT_TYPES.get(node.level, HandlingUnitType.OTHER)
    weight = _weight(ctx, node.segments)
    # A carrier's package id may come as REF*CN at the pack level instead of MAN CP.
    carrier_ref = references(node.segments).get("CN")
    units = []
    for man in (s for s in node.segments if s.tag == "MAN"):
        qualifier, mark = man.element(1).strip(), man.element(2).strip()
        sscc = sscc_of(ctx, man, qualifier, mark)
        units.append(
            HandlingUnit(
                sscc=sscc,
                type=unit_type,
                type_raw=node.level,
                hl_id=node.hl_id,
                parent=node.parent_id,
                tracking_number=(mark if sscc is None and mark else None) or carrier_ref,
                weight=weight,
            )
        )
    if not units:
        units.append(HandlingUnit(type=unit_type, type_raw=node.level, hl_id=node.hl_id,
                                  parent=node.parent_id, tracking_number=carrier_ref,
                                  weight=weight))
    return units


def _item(ctx: SetContext, node: _Node) -> AsnItem:
    lin = next((s for s in node.segments if s.tag == "LIN"), None)
    sn1 = next((s for s in node.segments if s.tag == "SN1"), None)
    if sn1 is None:
        raise ctx.fail(node.hl, f"item level HL {node.hl_id} has no SN1",
                       "each shipped item needs its SN1 quantity")
    shipped = quantity(ctx, sn1, 2, 3, required=True)
    assert shipped is not None
    line_ref = (text(lin, 1) if lin else None) or text(sn1, 1)
    lots = _lots(node.segments, lin)
    ordered: Quantity | None = quantity(ctx, sn1, 5, 6) if text(sn1, 5) else None
    return AsnItem(
        hl_id=node.hl_id,
        line_ref=line_ref,
        item=item_ref(ctx, lin or sn1, id_pairs(lin, 2) if lin else (), line_ref=line_ref,
                      description=description_of(node.segments)),
        shipped_qty=shipped,
        ordered_qty=ordered,
        line_status_raw=text(sn1, 8),
        lots=lots,
        weight=_weight(ctx, node.segments),
    )
