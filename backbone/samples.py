"""Realistic sample events (test doubles that ship with the code; the demo and benchmarks use them).

Every sample is deterministic for a given ``seed``; the ``sample_<event>(seed, **overrides)``
builders replace top-level fields (validated like any other input), e.g.
``sample_shipment_milestone(raw_status=RawStatus(source="UPS", code="D"))``.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from backbone.events import (
    AckType,
    AdjustmentReason,
    AdvanceShipNotice,
    Appointment,
    AsnItem,
    AsnOrder,
    BusinessDate,
    CarrierRef,
    ControlNumbers,
    Correlation,
    DateQualifier,
    DiscrepancyStatus,
    DocumentRef,
    DocumentStandard,
    Event,
    EventTimePrecision,
    GoodsReceipt,
    HandlingUnit,
    HandlingUnitType,
    HierarchyNode,
    InventoryDiscrepancy,
    InventoryMovement,
    InventoryPosition,
    InventorySnapshot,
    Invoice,
    InvoiceLine,
    ItemRef,
    Lading,
    LastShipmentEvent,
    LineAck,
    LineAckStatus,
    LineChangeType,
    LocationRef,
    Lot,
    Milestone,
    MovementType,
    OrderLineFlags,
    OrderLineProgress,
    OrderLineState,
    OrderLineStatus,
    Pack,
    PartyIdQualifier,
    PartyRef,
    PartyRole,
    PurchaseOrderChanged,
    PurchaseOrderLine,
    PurchaseOrderPurpose,
    Quantity,
    RawStatus,
    RawStatusSource,
    ReceiptCondition,
    ReceiptLine,
    ShipmentCondition,
    ShipmentLocation,
    ShipmentMilestone,
    ShipmentStatus,
    Source,
    SourceSystem,
    StockStatus,
    SupplierAckLine,
    SupplierAcknowledgement,
    model_for,
)

BUYER = "ACME-DIST"
SUPPLIER_ID = "0614141000012"  # a GLN with a valid check digit
SITE = "DC-ATL-01"
_BASE_TIME = datetime(2024, 5, 14, 13, 22, tzinfo=UTC)
_SKUS = ("WID-4410-BLK", "HNG-2200-ZNC", "FLT-0920-HEPA", "CBL-1150-CAT6", "VLV-0075-BRS")
_DESCRIPTIONS = {
    "WID-4410-BLK": "Widget bracket 44x10 black",
    "HNG-2200-ZNC": "Door hinge 3.5in zinc, pack of 2",
    "FLT-0920-HEPA": "HEPA filter 9x20",
    "CBL-1150-CAT6": "Cat6 patch cable 15ft blue",
    "VLV-0075-BRS": "Ball valve 3/4in brass",
}
_CITIES = (
    ("LOUISVILLE", "KY", "40209", "US"),
    ("ONTARIO", "CA", "91761", "US"),
    ("MEMPHIS", "TN", "38118", "US"),
    ("ATLANTA", "GA", "30354", "US"),
)


def sample(record: str | type[Event], seed: int = 0) -> Event:
    """A realistic instance of an event, by model or record name (short or full)."""
    model = record if isinstance(record, type) else model_for(record)
    return _BUILDERS[model](seed)


def sample_purchase_order_changed(seed: int = 0, **overrides: Any) -> PurchaseOrderChanged:
    """An original X12 850 for two lines (cases of 12 and eaches)."""
    rng = random.Random(seed)
    po = _po_number(rng)
    at = _time(rng)
    skus = rng.sample(_SKUS, 2)
    lines = tuple(
        PurchaseOrderLine(
            line_number=str(n),
            change_type=LineChangeType.ADD,
            item=_item(rng, sku, str(n)),
            ordered_qty=_qty(rng.randrange(5, 60), "CA", base_factor=12),
            unit_price=Decimal(rng.randrange(1200, 9900)) / 100,
            price_basis_raw="PE",
            pack=Pack(pack=12, size=Decimal(1), size_uom="EA"),
            dates=(
                BusinessDate(
                    qualifier=DateQualifier.REQUESTED_DELIVERY,
                    qualifier_raw="002",
                    date=at.date() + timedelta(days=10),
                ),
            ),
        )
        for n, sku in enumerate(skus, start=1)
    )
    fields: dict[str, Any] = {
        **_envelope(
            rng,
            at,
            _edi_source(rng, "850"),
            Correlation(po_number=po),
            f"{SUPPLIER_ID}:850:{po}:00",
        ),
        "buyer": BUYER,
        "po_number": po,
        "po_date": at.date(),
        "purpose": PurchaseOrderPurpose.ORIGINAL,
        "purpose_raw": "00",
        "po_type_raw": "SA",
        "currency": "USD",
        "parties": _parties(),
        "dates": (
            BusinessDate(
                qualifier=DateQualifier.REQUESTED_SHIP,
                qualifier_raw="010",
                date=at.date() + timedelta(days=7),
            ),
        ),
        "lines": lines,
        "total_amount": sum(
            (line.ordered_qty.value * (line.unit_price or 0) for line in lines), Decimal(0)
        ),
    }
    return PurchaseOrderChanged(**{**fields, **overrides})


def sample_supplier_acknowledgement(seed: int = 0, **overrides: Any) -> SupplierAcknowledgement:
    """An X12 855 that splits a line: part accepted, part backordered."""
    rng = random.Random(seed)
    po = _po_number(rng)
    at = _time(rng)
    sku = rng.choice(_SKUS)
    line = SupplierAckLine(
        line_number="1",
        item=_item(rng, sku, "1"),
        ordered_qty=_qty(24, "CA"),
        unit_price=Decimal("42.5000"),
        acks=(
            LineAck(
                status=LineAckStatus.ACCEPTED,
                status_raw="IA",
                quantity=_qty(20, "CA"),
                promised_ship_date=at.date() + timedelta(days=3),
            ),
            LineAck(
                status=LineAckStatus.BACKORDERED,
                status_raw="IB",
                quantity=_qty(4, "CA"),
                promised_ship_date=at.date() + timedelta(days=21),
            ),
        ),
    )
    fields: dict[str, Any] = {
        **_envelope(
            rng, at, _edi_source(rng, "855"), Correlation(po_number=po), f"{SUPPLIER_ID}:855:{po}"
        ),
        "buyer": BUYER,
        "po_number": po,
        "po_date": at.date() - timedelta(days=1),
        "ack_type": AckType.ACCEPTED_WITH_CHANGES,
        "ack_type_raw": "AC",
        "ack_date": at.date(),
        "seller_order_number": f"SO{rng.randrange(100000, 999999)}",
        "parties": _parties(),
        "lines": (line,),
    }
    return SupplierAcknowledgement(**{**fields, **overrides})


def sample_advance_ship_notice(seed: int = 0, **overrides: Any) -> AdvanceShipNotice:
    """An X12 856 in SOPI structure: one order, one pallet, one item with a lot."""
    rng = random.Random(seed)
    po = _po_number(rng)
    at = _time(rng)
    asn_id = f"ASN{rng.randrange(1000000, 9999999)}"
    bol, pro = _bol(rng), _pro(rng)
    pallet = _sscc(rng)
    fields: dict[str, Any] = {
        **_envelope(
            rng,
            at,
            _edi_source(rng, "856"),
            Correlation(po_number=po, asn_id=asn_id, bol=bol, pro=pro),
            f"{SUPPLIER_ID}:856:{asn_id}",
        ),
        "buyer": BUYER,
        "po_number": po,
        "asn_id": asn_id,
        "purpose_raw": "00",
        "shipped_at": at,
        "shipped_at_offset_minutes": -240,
        "eta": at + timedelta(days=3),
        "hierarchy_structure_raw": "0001",
        "carrier": CarrierRef(
            scac="ODFL",
            mode_raw="M",
            pro=pro,
            bol=bol,
            equipment_number=f"TRL{rng.randrange(10000, 99999)}",
        ),
        "lading_quantity": _qty(1, "PLT"),
        "gross_weight": Quantity(value=Decimal(rng.randrange(300, 900)), uom="LB"),
        "parties": _parties(),
        "orders": (
            AsnOrder(
                hl_id="2",
                po_number=po,
                po_date=at.date() - timedelta(days=6),
                handling_units=(
                    HandlingUnit(
                        sscc=pallet, type=HandlingUnitType.PALLET, type_raw="T", hl_id="3"
                    ),
                ),
                items=(
                    AsnItem(
                        hl_id="4",
                        line_ref="1",
                        item=_item(rng, rng.choice(_SKUS), "1"),
                        shipped_qty=_qty(20, "CA", base_factor=12),
                        ordered_qty=_qty(24, "CA"),
                        line_status_raw="IB",
                        lots=(
                            Lot(
                                lot_number=f"L{at:%y%j}{rng.randrange(10, 99)}",
                                quantity=_qty(20, "CA"),
                            ),
                        ),
                    ),
                ),
            ),
        ),
        "hierarchy": (
            HierarchyNode(hl_id="1", level_raw="S"),
            HierarchyNode(hl_id="2", parent_id="1", level_raw="O"),
            HierarchyNode(hl_id="3", parent_id="2", level_raw="T"),
            HierarchyNode(hl_id="4", parent_id="3", level_raw="I"),
        ),
    }
    return AdvanceShipNotice(**{**fields, **overrides})


def sample_order_line_status(seed: int = 0, **overrides: Any) -> OrderLineStatus:
    """The order_fulfillment view of a line that shipped in part."""
    rng = random.Random(seed)
    po = _po_number(rng)
    at = _time(rng)
    fields: dict[str, Any] = {
        **_envelope(
            rng,
            at,
            _backbone_source("order-fulfillment"),
            Correlation(po_number=po),
            f"order-fulfillment:{BUYER}|{po}:{at:%Y%m%d%H%M%S}",
        ),
        "buyer": BUYER,
        "po_number": po,
        "order_state": OrderLineState.PARTIALLY_SHIPPED,
        "lines": (
            OrderLineProgress(
                line_number="1",
                sku=rng.choice(_SKUS),
                uom="EA",
                ordered_qty=Decimal(288),
                acked_qty_by_status={"ACCEPTED": Decimal(240), "BACKORDERED": Decimal(48)},
                shipped_qty=Decimal(240),
                received_qty=Decimal(0),
                invoiced_qty=Decimal(0),
                state=OrderLineState.PARTIALLY_SHIPPED,
                flags=OrderLineFlags(),
            ),
        ),
    }
    return OrderLineStatus(**{**fields, **overrides})


def sample_goods_receipt(seed: int = 0, **overrides: Any) -> GoodsReceipt:
    """A WMS receipt of one SKU: good cartons plus two damaged."""
    rng = random.Random(seed)
    at = _time(rng)
    sku = rng.choice(_SKUS)
    receipt_id = f"RCV{rng.randrange(100000, 999999)}"
    po = _po_number(rng)
    fields: dict[str, Any] = {
        **_envelope(
            rng,
            at,
            _wms_source(),
            Correlation(po_number=po),
            f"wms-dc-atl:receipt:{receipt_id}:{sku}",
        ),
        "sku": sku,
        "location": SITE,
        "receipt_id": receipt_id,
        "site": LocationRef(gln=_gln(rng), site_id=SITE, sublocation="DOCK-04", name="Atlanta DC"),
        "po_number": po,
        "lines": (
            ReceiptLine(
                line_ref="1",
                item=_item(rng, sku, "1"),
                received_qty=_qty(18, "CA"),
                lot="L24135A",
                condition=ReceiptCondition.GOOD,
                sscc=(_sscc(rng),),
            ),
            ReceiptLine(
                line_ref="1",
                item=_item(rng, sku, "1"),
                received_qty=_qty(2, "CA"),
                lot="L24135A",
                condition=ReceiptCondition.DAMAGED,
                condition_raw="DM",
            ),
        ),
    }
    return GoodsReceipt(**{**fields, **overrides})


def sample_inventory_movement(seed: int = 0, **overrides: Any) -> InventoryMovement:
    """An X12 947 adjustment: cycle count found three eaches fewer."""
    rng = random.Random(seed)
    at = _time(rng)
    sku = rng.choice(_SKUS)
    movement_id = f"ADJ{rng.randrange(1000000, 9999999)}"
    fields: dict[str, Any] = {
        **_envelope(
            rng, at, _edi_source(rng, "947"), Correlation(), f"{SUPPLIER_ID}:947:{movement_id}:1"
        ),
        "sku": sku,
        "location": SITE,
        "movement_id": movement_id,
        "movement_type": MovementType.ADJUSTMENT,
        "reason": AdjustmentReason.CYCLE_COUNT,
        "reason_raw": "AA",
        "item": _item(rng, sku, None),
        "sublocation": f"A-{rng.randrange(1, 40):02d}-{rng.randrange(1, 6)}",
        "qty_delta": _qty(-3, "EA"),
        "from_status": StockStatus.AVAILABLE,
        "to_status": StockStatus.AVAILABLE,
    }
    return InventoryMovement(**{**fields, **overrides})


def sample_inventory_snapshot(seed: int = 0, **overrides: Any) -> InventorySnapshot:
    """A full ERP snapshot of one SKU: on hand, available, allocated."""
    rng = random.Random(seed)
    at = _time(rng)
    sku = rng.choice(_SKUS)
    on_hand = rng.randrange(100, 5000)
    allocated = rng.randrange(0, on_hand // 2)
    fields: dict[str, Any] = {
        **_envelope(
            rng,
            at,
            Source(system=SourceSystem.ERP, instance="erp-na"),
            Correlation(),
            f"erp-na:snapshot:{sku}@{SITE}:{at:%Y%m%dT%H%M}",
        ),
        "sku": sku,
        "location": SITE,
        "snapshot_id": f"INV{at:%Y%m%d}-{rng.randrange(100, 999)}",
        "as_of": at,
        "as_of_offset_minutes": -240,
        "item": _item(rng, sku, None),
        "quantities": {
            "ON_HAND": _qty(on_hand, "EA"),
            "AVAILABLE": _qty(on_hand - allocated, "EA"),
            "ALLOCATED": _qty(allocated, "EA"),
        },
        "is_full": True,
    }
    return InventorySnapshot(**{**fields, **overrides})


def sample_inventory_position(seed: int = 0, **overrides: Any) -> InventoryPosition:
    """The stock_reconciliation view of one SKU with a small, tolerated difference."""
    rng = random.Random(seed)
    at = _time(rng)
    sku = rng.choice(_SKUS)
    expected = Decimal(rng.randrange(100, 5000))
    fields: dict[str, Any] = {
        **_envelope(
            rng,
            at,
            _backbone_source("stock-reconciliation"),
            Correlation(),
            f"stock-reconciliation:{sku}@{SITE}:{at:%Y%m%dT%H%M%S}",
        ),
        "sku": sku,
        "location": SITE,
        "uom": "EA",
        "expected_on_hand": expected,
        "reported_on_hand": expected - 1,
        "in_transit": Decimal(0),
        "delta": Decimal(-1),
        "tolerance": Decimal(2),
        "reporting_system": SourceSystem.WMS,
        "compared_system": SourceSystem.ERP,
        "basis_snapshot_id": f"WMS{at:%Y%m%d}-{rng.randrange(100, 999)}",
        "basis_as_of": at - timedelta(hours=6),
        "movements_applied": rng.randrange(1, 40),
        "open_break": False,
    }
    return InventoryPosition(**{**fields, **overrides})


def sample_inventory_discrepancy(seed: int = 0, **overrides: Any) -> InventoryDiscrepancy:
    """A BREAK: the ERP reports 48 more than the WMS expects."""
    rng = random.Random(seed)
    at = _time(rng)
    sku = rng.choice(_SKUS)
    expected = Decimal(rng.randrange(100, 5000))
    fields: dict[str, Any] = {
        **_envelope(
            rng,
            at,
            _backbone_source("stock-reconciliation"),
            Correlation(),
            f"stock-reconciliation:break:{sku}@{SITE}:{at:%Y%m%dT%H%M%S}",
        ),
        "sku": sku,
        "location": SITE,
        "discrepancy_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "status": DiscrepancyStatus.BREAK,
        "uom": "EA",
        "expected_on_hand": expected,
        "reported_on_hand": expected + 48,
        "in_transit": Decimal(0),
        "delta": Decimal(48),
        "tolerance": Decimal(2),
        "reporting_system": SourceSystem.WMS,
        "compared_system": SourceSystem.ERP,
        "snapshot_id": f"INV{at:%Y%m%d}-{rng.randrange(100, 999)}",
        "opened_at": at,
    }
    return InventoryDiscrepancy(**{**fields, **overrides})


def sample_shipment_milestone(seed: int = 0, **overrides: Any) -> ShipmentMilestone:
    """A UPS 'OUT FOR DELIVERY' scan (status type I, code DS), as in the UPS Track API."""
    rng = random.Random(seed)
    at = _time(rng)
    tracking = _ups_tracking(rng)
    city, region, postal, country = rng.choice(_CITIES)
    fields: dict[str, Any] = {
        **_envelope(
            rng,
            at,
            Source(
                system=SourceSystem.CARRIER,
                partner_id="UPSN",
                document=DocumentRef(
                    standard=DocumentStandard.API, version="v1", transaction_set="track"
                ),
            ),
            Correlation(tracking_numbers=(tracking,)),
            f"UPSN:{tracking}:I:DS:{at:%Y%m%dT%H%M%S}",
        ),
        "occurred_at_offset_minutes": -240,
        "carrier": "UPSN",
        "tracking_number": tracking,
        "raw_status": RawStatus(
            source=RawStatusSource.UPS, code="I", reason_code="DS", description="OUT FOR DELIVERY"
        ),
        "event_time": at,
        "event_time_offset_minutes": -240,
        "event_time_precision": EventTimePrecision.EXACT,
        "location": ShipmentLocation(city=city, region=region, postal_code=postal, country=country),
        "eta": at + timedelta(hours=6),
        "lading": Lading(quantity=_qty(1, "PKG"), weight=Quantity(value=Decimal("12.4"), uom="LB")),
    }
    return ShipmentMilestone(**{**fields, **overrides})


def sample_shipment_status(seed: int = 0, **overrides: Any) -> ShipmentStatus:
    """A FedEx Freight shipment delivered with a signature."""
    rng = random.Random(seed)
    at = _time(rng)
    pro = _pro(rng)
    city, region, postal, country = rng.choice(_CITIES)
    last = LastShipmentEvent(
        raw_status=RawStatus(source=RawStatusSource.FEDEX, code="DL", description="Delivered"),
        event_time=at,
        location=ShipmentLocation(city=city, region=region, postal_code=postal, country=country),
    )
    fields: dict[str, Any] = {
        **_envelope(
            rng,
            at,
            _backbone_source("shipment-status"),
            Correlation(pro=pro),
            f"shipment-status:FXFE:{pro}:{at:%Y%m%dT%H%M%S}",
        ),
        "carrier": "FXFE",
        "tracking_number": pro,
        "milestone": Milestone.DELIVERED,
        "milestone_rank": 50,
        "condition": ShipmentCondition(),
        "appointment": Appointment(
            start=at - timedelta(hours=2), end=at + timedelta(hours=2), type_raw="AB"
        ),
        "last_event": last,
        "history_count": rng.randrange(4, 12),
        "first_event_at": at - timedelta(days=3),
        "last_updated_at": at,
        "terminal": True,
    }
    return ShipmentStatus(**{**fields, **overrides})


def sample_invoice(seed: int = 0, **overrides: Any) -> Invoice:
    """An X12 810 for one line."""
    rng = random.Random(seed)
    at = _time(rng)
    po = _po_number(rng)
    qty = rng.randrange(5, 60)
    price = Decimal(rng.randrange(1200, 9900)) / 100
    fields: dict[str, Any] = {
        **_envelope(
            rng,
            at,
            _edi_source(rng, "810"),
            Correlation(po_number=po),
            f"{SUPPLIER_ID}:810:INV{po[-6:]}",
        ),
        "buyer": BUYER,
        "po_number": po,
        "invoice_number": f"INV{po[-6:]}",
        "invoice_date": at.date(),
        "po_date": at.date() - timedelta(days=12),
        "invoice_type_raw": "DI",
        "currency": "USD",
        "parties": _parties(),
        "lines": (
            InvoiceLine(
                line_number="1",
                item=_item(rng, rng.choice(_SKUS), "1"),
                invoiced_qty=_qty(qty, "CA"),
                unit_price=price,
                amount=qty * price,
            ),
        ),
        "total_amount": qty * price,
    }
    return Invoice(**{**fields, **overrides})


_BUILDERS: dict[type[Event], Callable[[int], Event]] = {
    PurchaseOrderChanged: sample_purchase_order_changed,
    SupplierAcknowledgement: sample_supplier_acknowledgement,
    AdvanceShipNotice: sample_advance_ship_notice,
    OrderLineStatus: sample_order_line_status,
    GoodsReceipt: sample_goods_receipt,
    InventoryMovement: sample_inventory_movement,
    InventorySnapshot: sample_inventory_snapshot,
    InventoryPosition: sample_inventory_position,
    InventoryDiscrepancy: sample_inventory_discrepancy,
    ShipmentMilestone: sample_shipment_milestone,
    ShipmentStatus: sample_shipment_status,
    Invoice: sample_invoice,
}


def _envelope(
    rng: random.Random, at: datetime, source: Source, correlation: Correlation, key: str
) -> dict[str, Any]:
    return {
        "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "occurred_at": at,
        "recorded_at": at
        + timedelta(seconds=rng.randrange(1, 900), milliseconds=rng.randrange(1000)),
        "source": source,
        "correlation": correlation,
        "idempotency_key": key,
    }


def _edi_source(rng: random.Random, transaction_set: str) -> Source:
    return Source(
        system=SourceSystem.EDI,
        instance="edi-inbox",
        partner_id=SUPPLIER_ID,
        document=DocumentRef(
            standard=DocumentStandard.X12,
            version="004010",
            transaction_set=transaction_set,
            control_numbers=ControlNumbers(
                interchange=f"{rng.randrange(1, 999999999):09d}",
                group=str(rng.randrange(1, 99999)),
                transaction=f"{rng.randrange(1, 9999):04d}",
            ),
            raw_ref=f"inbox/{transaction_set}/{rng.randrange(10**7, 10**8)}.edi",
        ),
    )


def _wms_source() -> Source:
    return Source(system=SourceSystem.WMS, instance="wms-dc-atl")


def _backbone_source(processor: str) -> Source:
    return Source(system=SourceSystem.BACKBONE, instance=processor)


def _parties() -> tuple[PartyRef, ...]:
    return (
        PartyRef(
            role=PartyRole.BUYER,
            role_raw="BY",
            id=BUYER,
            id_qualifier=PartyIdQualifier.BUYER_ASSIGNED,
            id_qualifier_raw="92",
            name="ACME Distribution Inc",
        ),
        PartyRef(
            role=PartyRole.SUPPLIER,
            role_raw="SU",
            id=SUPPLIER_ID,
            id_qualifier=PartyIdQualifier.GLN,
            id_qualifier_raw="UL",
            name="Northwind Industrial Supply",
        ),
        PartyRef(
            role=PartyRole.SHIP_TO,
            role_raw="ST",
            id="0078742035260",
            id_qualifier=PartyIdQualifier.GLN,
            id_qualifier_raw="UL",
            name="ACME Atlanta DC",
        ),
    )


def _item(rng: random.Random, sku: str, line_ref: str | None) -> ItemRef:
    gtin = _gtin14(random.Random(sku))  # the same SKU always has the same GTIN
    vendor_item = f"NW-{rng.randrange(10000, 99999)}"
    return ItemRef(
        line_ref=line_ref,
        sku=sku,
        gtin=gtin,
        upc=gtin[2:],
        buyer_item=sku,
        vendor_item=vendor_item,
        description=_DESCRIPTIONS[sku],
        ids={"UP": gtin[2:], "VN": vendor_item, "BP": sku},
    )


def _qty(value: int, uom: str, base_factor: int | None = None) -> Quantity:
    if base_factor is None:
        return Quantity(value=Decimal(value), uom=uom)
    return Quantity(
        value=Decimal(value), uom=uom, base_value=Decimal(value * base_factor), base_uom="EA"
    )


def _time(rng: random.Random) -> datetime:
    return _BASE_TIME + timedelta(minutes=rng.randrange(0, 30 * 24 * 60))


def _po_number(rng: random.Random) -> str:
    return f"45{rng.randrange(10**7, 10**8)}"


def _bol(rng: random.Random) -> str:
    return f"BOL{rng.randrange(10**8, 10**9)}"


def _pro(rng: random.Random) -> str:
    return str(rng.randrange(10**9, 10**10))


def _check_digit(digits: str) -> str:
    # GS1 mod-10: weights 3,1,3,... from the rightmost digit
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return str((10 - total % 10) % 10)


def _gln(rng: random.Random) -> str:
    body = f"0614141{rng.randrange(10**4, 10**5)}"
    return body + _check_digit(body)


def _gtin14(rng: random.Random) -> str:
    body = f"1006141410{rng.randrange(100, 1000)}"
    return body + _check_digit(body)


def _sscc(rng: random.Random) -> str:
    body = f"00614141{rng.randrange(10**8, 10**9)}"
    return body + _check_digit(body)


def _ups_tracking(rng: random.Random) -> str:
    body = f"V8W371{rng.choice(('01', '02', '03'))}{rng.randrange(10**6, 10**7)}"
    # UPS check digit: letters map to (ord - 63) % 10, odd positions weight 1, even weight 2.
    values = [int(c) if c.isdigit() else (ord(c) - 63) % 10 for c in body]
    total = sum(v * (2 if i % 2 else 1) for i, v in enumerate(values))
    return f"1Z{body}{(10 - total % 10) % 10}"
