"""856 -> AdvanceShipNotice over every 856 of the corpus, and broken HL trees."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from backbone.events import AdvanceShipNotice, HandlingUnitType
from connectors.edi_x12.mapping import MappingError
from tests.unit.edi_x12.x12_samples import build, map_bytes, map_corpus


def only_asn(corpus_dir: Path, name: str) -> AdvanceShipNotice:
    ((_, events),) = map_corpus(corpus_dir / name)
    (asn,) = events
    assert isinstance(asn, AdvanceShipNotice)
    return asn


def test_edi_engine_crossdock_sopi_with_ssccs(corpus_dir: Path) -> None:
    asn = only_asn(corpus_dir, "EdiEngine__856.Crossdock.OK.edi")
    assert (asn.asn_id, asn.purpose_raw, asn.hierarchy_structure_raw) == ("000009", "00", "0001")
    assert asn.shipped_at == datetime(2009, 9, 21, tzinfo=UTC)
    assert asn.eta == datetime(2009, 9, 25, tzinfo=UTC)
    assert asn.carrier is not None
    # TD5**2*OVNT**OVERNITE: TD502 '2' says TD503 is the SCAC, TD505 the routing.
    assert (asn.carrier.bol, asn.carrier.pro, asn.carrier.scac, asn.carrier.name) == (
        "000001", "0000000008741", "OVNT", "OVERNITE")
    assert asn.carrier.equipment_number == "1234567890"
    assert asn.lading_quantity is not None and asn.lading_quantity.value == 5
    assert asn.lading_quantity.uom == "CTN"
    assert asn.gross_weight is not None and (asn.gross_weight.value, asn.gross_weight.uom) == (
        24, "LB")
    assert [o.po_number for o in asn.orders] == ["POREF00", "POREF01"]
    assert asn.po_number == "POREF00"
    first, second = asn.orders
    assert [u.sscc for u in first.handling_units] == [
        "000715670002152360", "000715670002152377", "000715670002152384", "000715670002152391"]
    assert {u.type for u in first.handling_units} == {HandlingUnitType.CARTON}
    assert [(i.hl_id, i.item.upc or i.item.gtin, i.shipped_qty.value) for i in first.items] == [
        ("4", "0000000000642", 12), ("6", "0000000000831", 12), ("8", "0000000000283", 12),
        ("10", "0000000000203", 12)]
    assert [u.sscc for u in second.handling_units] == ["000715670002152111"]
    assert [i.hl_id for i in second.items] == ["13"]
    assert len(asn.hierarchy) == 13
    assert (asn.hierarchy[3].hl_id, asn.hierarchy[3].parent_id, asn.hierarchy[3].level_raw) == (
        "4", "3", "I")
    # Fake check digits of the sample: warnings, never a rejection.
    assert sum("SSCC" in w for w in asn.warnings) == 5
    assert any("UPC '0000000000642' should be 12 digits" in w for w in asn.warnings)


@pytest.mark.parametrize("name", ["node-x12__856.edi", "x12-types__004060_856.edi"])
def test_soi_without_packs(corpus_dir: Path, name: str) -> None:
    asn = only_asn(corpus_dir, name)
    assert (asn.asn_id, asn.purpose_raw, asn.hierarchy_structure_raw) == ("829716", "14", "0002")
    assert asn.shipped_at == datetime(2011, 12, 6, tzinfo=UTC)
    assert asn.carrier is not None
    assert (asn.carrier.bol, asn.carrier.pro) == ("999999-001", "5787970539")
    assert asn.gross_weight is not None and asn.gross_weight.value == Decimal("60.310")
    (order,) = asn.orders
    assert (order.po_number, order.po_date) == ("99999817", date(2011, 12, 5))
    assert order.handling_units == ()
    assert [(i.line_ref, i.item.vendor_item, i.item.upc, i.shipped_qty.value,
             i.shipped_qty.uom, i.item.description) for i in order.items] == [
        ("1", "87787D", "999999310145", 24, "EA", "BLUE WIDGET"),
        ("2", "99887D", "999999311746", 6, "EA", "RED WIDGET")]
    # ZIP+4 "31139-0020" next to ISA11 '-' (node-x12): kept whole.
    assert any(p.address and p.address.postal_code == "31139-0020" for p in asn.parties)


def test_pack_level_with_a_carrier_package_id(corpus_dir: Path) -> None:
    asn = only_asn(corpus_dir, "x12-types__test_856__test_856_xx.edi")
    assert (asn.asn_id, asn.po_number) == ("222253", "DR3469500")
    (order,) = asn.orders
    (unit,) = order.handling_units
    assert (unit.sscc, unit.tracking_number, unit.type) == (
        None, "1Z54242X0357922222", HandlingUnitType.CARTON)
    (item,) = order.items
    assert (item.line_ref, item.item.ids, item.shipped_qty.value) == ("001", {"CB": "25901"}, 2)


HEADER = "BSN*00*ASN1*20260102*1200*0001"


def test_hl_parents_that_point_at_each_other_are_rejected() -> None:
    data = build("856", HEADER, "HL*1*2*S", "HL*2*1*O", "PRF*PO1", version="004010")
    with pytest.raises(MappingError, match=r"segment 5 \(HL\).*HL 1: parents loop back"):
        map_bytes(data, "loop.edi")


def test_hl_pointing_at_a_missing_parent_is_rejected() -> None:
    data = build("856", HEADER, "HL*1**S", "HL*2*9*O", "PRF*PO1")
    with pytest.raises(MappingError, match=r"segment 6 \(HL\).*names parent '9'"):
        map_bytes(data)


def test_duplicate_hl_id_is_rejected() -> None:
    data = build("856", HEADER, "HL*1**S", "HL*1*1*O", "PRF*PO1")
    with pytest.raises(MappingError, match="HL01 '1' is used twice"):
        map_bytes(data)


def test_missing_levels_and_empty_parents_are_tolerated() -> None:
    # S -> I only (no order level), the item with an empty HL02.
    data = build("856", HEADER, "HL*1**S", "REF*BM*BOL9", "HL*2**I", "LIN*1*SK*A-1",
                 "SN1*1*5*CA")
    (asn,) = map_bytes(data)
    assert isinstance(asn, AdvanceShipNotice)
    (order,) = asn.orders
    assert order.po_number == "ASN1"
    assert order.items[0].item.sku == "A-1"
    assert asn.hierarchy[1].parent_id == "1"
    assert asn.carrier is not None and asn.carrier.bol == "BOL9"
    assert any("no order level" in w for w in asn.warnings)


def test_tare_above_orders_goes_to_every_order_below_it() -> None:
    data = build("856", HEADER, "HL*1**S", "HL*2*1*T", "MAN*GM*00006141411234567890",
                 "HL*3*2*O", "PRF*PO-A", "HL*4*3*I", "LIN*1*SK*X", "SN1*1*1*EA",
                 "HL*5*2*O", "PRF*PO-B", "HL*6*5*I", "LIN*1*SK*Y", "SN1*1*2*EA")
    (asn,) = map_bytes(data)
    assert isinstance(asn, AdvanceShipNotice)
    assert [(o.po_number, [u.sscc for u in o.handling_units]) for o in asn.orders] == [
        ("PO-A", ["006141411234567890"]),
        ("PO-B", ["006141411234567890"]),
    ]
    assert asn.orders[0].handling_units[0].type is HandlingUnitType.PALLET


def test_order_level_td1_stays_with_its_order(corpus_dir: Path) -> None:
    """EdiEngine crossdock: HL*2*1*O PRF*POREF00 TD1*CTN*4, HL*11*1*O PRF*POREF01 TD1*CTN*1."""
    asn = only_asn(corpus_dir, "EdiEngine__856.Crossdock.OK.edi")
    assert [(o.po_number, o.lading_quantity.value if o.lading_quantity else None,
             o.lading_quantity.uom if o.lading_quantity else None, o.carrier)
            for o in asn.orders] == [("POREF00", 4, "CTN", None), ("POREF01", 1, "CTN", None)]
    assert asn.lading_quantity is not None and asn.lading_quantity.value == 5  # TD1*CTN*5


PICK_AND_PACK = build(
    "856",
    "BSN*00*SHIP-9*20260301*1200*0001",
    "HL*1**S", "TD5**2*ABCD**ROAD", "REF*BM*BOL-1",
    "HL*2*1*O", "PRF*PO-A", "TD5**2*WXYZ", "REF*BM*BOL-A", "REF*CN*PRO-A", "TD1*CTN*2****G*30*LB",
    "HL*3*2*P", "MAN*GM*00000123456789012345", "MEA*PD*G*12.5*LB",
    "HL*4*3*I", "LIN*1*VN*X1", "SN1*1*6*EA", "REF*LS*LOT-1", "REF*LS*LOT-2", "MEA*PD*WT*3*KG",
    "HL*5*3*I", "LIN*2*VN*X2", "SN1*2*4*EA", "PRF*PO-B",
    "HL*6*1*P", "REF*CN*1Z999", "MEA*PD*G*2*LB>",
    "HL*7**I", "LIN*3*VN*X3", "SN1*3*1*EA",
)


def test_every_level_keeps_its_carrier_weights_lots_and_po() -> None:
    (asn,) = map_bytes(PICK_AND_PACK)
    assert isinstance(asn, AdvanceShipNotice)
    assert asn.carrier is not None and (asn.carrier.scac, asn.carrier.bol) == ("ABCD", "BOL-1")
    order_a, order_b = asn.orders
    assert order_a.po_number == "PO-A"
    assert order_a.carrier is not None
    assert (order_a.carrier.scac, order_a.carrier.bol, order_a.carrier.pro) == (
        "WXYZ", "BOL-A", "PRO-A")
    assert order_a.gross_weight is not None
    assert (order_a.gross_weight.value, order_a.gross_weight.uom) == (30, "LB")
    carton = order_a.handling_units[0]
    assert carton.weight is not None and (carton.weight.value, carton.weight.uom) == (
        Decimal("12.5"), "LB")
    first = order_a.items[0]
    assert [lot.lot_number for lot in first.lots] == ["LOT-1", "LOT-2"]
    assert first.weight is not None and (first.weight.value, first.weight.uom) == (3, "KG")
    # HL 5 names its own PO in an item-level PRF: it goes to that order, not to PO-A.
    assert order_b.po_number == "PO-B" and order_b.hl_id is None
    assert [item.line_ref for item in order_b.items] == ["2"]
    # HL 6 hangs off the shipment with no order: it and its item go to the order of the
    # first PRF (PO-A), the same order, not a second one. A REF*CN package id, composite MEA04.
    assert [u.hl_id for u in order_a.handling_units] == ["3", "6"]
    assert [i.line_ref for i in order_a.items] == ["1", "3"]
    loose = order_a.handling_units[1]
    assert loose.tracking_number == "1Z999"
    assert loose.weight is not None and (loose.weight.value, loose.weight.uom) == (2, "LB")


def test_an_empty_hl_parent_is_a_warning_naming_the_parent_chosen() -> None:
    (asn,) = map_bytes(PICK_AND_PACK)
    assert isinstance(asn, AdvanceShipNotice)
    assert any("HL02 (parent id) of HL 7 (level 'I') is empty; placed under HL 6" in w
               for w in asn.warnings)
    assert [n.parent_id for n in asn.hierarchy if n.hl_id == "7"] == ["6"]
