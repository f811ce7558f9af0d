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
