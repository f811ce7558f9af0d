"""850 / 860 -> PurchaseOrderChanged, over every 850 of the corpus plus hand-built 860s.

Expected values were read off the files (BEG, PO1, PO4, PID, AMT segments).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from backbone.events import (
    DateQualifier,
    LineChangeType,
    PartyIdQualifier,
    PartyRole,
    PurchaseOrderChanged,
    PurchaseOrderPurpose,
)
from connectors.edi_x12.mapping import MappingError
from tests.unit.edi_x12.x12_samples import build, map_bytes, map_corpus


def only_po(corpus_dir: Path, name: str) -> PurchaseOrderChanged:
    mapped = [e for _, events in map_corpus(corpus_dir / name) for e in events]
    pos = [e for e in mapped if isinstance(e, PurchaseOrderChanged)]
    assert len(pos) == 1
    return pos[0]


@pytest.mark.parametrize("name", ["EdiEngine__850.OK.edi", "node-x12__850.edi"])
def test_widget_order_of_edi_engine_and_node_x12(corpus_dir: Path, name: str) -> None:
    po = only_po(corpus_dir, name)
    assert (po.po_number, po.po_date, po.purpose, po.purpose_raw, po.po_type_raw) == (
        "08292233294", date(2010, 11, 27), PurchaseOrderPurpose.ORIGINAL, "00", "SA")
    assert po.buyer == ("ABCDEFGHIJKLMNO" if name.startswith("EdiEngine") else "4405197800")
    assert po.source.document is not None
    assert po.source.document.version == ("004010" if "Engine" in name else "004010VICS")
    assert [(line.line_number, line.ordered_qty.value, line.ordered_qty.uom, line.unit_price)
            for line in po.lines] == [
        ("1", 120, "EA", Decimal("9.25")), ("2", 220, "EA", Decimal("13.79")),
        ("3", 126, "EA", Decimal("10.99")), ("4", 76, "EA", Decimal("4.35")),
        ("5", 72, "EA", Decimal("7.5")), ("6", 696, "EA", Decimal("9.55"))]
    first = po.lines[0]
    assert first.change_type is LineChangeType.ADD
    assert first.item.vendor_item == "AB3542"
    assert first.item.ids == {"CB": "065322-117", "PR": "RO", "VN": "AB3542"}
    assert first.item.description == "SMALL WIDGET"
    assert first.pack is not None and (first.pack.pack, first.pack.size, first.pack.size_uom) == (
        4, Decimal(4), "EA")
    assert first.price_basis_raw == "TE"
    assert po.total_amount == Decimal("13045.94")
    assert po.dates[0].qualifier is DateQualifier.REQUESTED_DELIVERY
    assert po.dates[0].date == date(2010, 12, 14)
    ship_to = po.parties[0]
    assert (ship_to.role, ship_to.id, ship_to.id_qualifier) == (
        PartyRole.SHIP_TO, "0003947268292", PartyIdQualifier.DUNS4)
    assert ship_to.address is not None
    assert (ship_to.address.lines, ship_to.address.city, ship_to.address.postal_code) == (
        ("31875 SOLON RD",), "SOLON", "44139")
    assert po.warnings == ()


def test_x12_types_order_without_line_numbers_gets_ordinals(corpus_dir: Path) -> None:
    po = only_po(corpus_dir, "x12-types__004010_850.edi")
    assert (po.po_number, po.po_date, po.buyer) == ("A99999-01", date(1997, 2, 14), "SENDERISA")
    assert [line.line_number for line in po.lines] == ["1", "2", "3", "4", "5", "6", "7"]
    assert [int(line.ordered_qty.value) for line in po.lines] == [16, 13, 32, 51, 9, 85, 1]
    assert {line.ordered_qty.uom for line in po.lines} == {"CA"}
    assert po.lines[0].item.case_code == "002840022222"
    assert po.lines[1].pack is not None and po.lines[1].pack.size == Decimal("8.9")
    assert [p.role for p in po.parties] == [PartyRole.BILL_TO, PartyRole.SHIP_TO]


def test_node_x12_850_3_single_kit_line(corpus_dir: Path) -> None:
    po = only_po(corpus_dir, "node-x12__850_3.edi")
    assert (po.po_number, po.po_type_raw, po.purpose) == ("----------", "NE",
                                                          PurchaseOrderPurpose.ORIGINAL)
    (line,) = po.lines
    assert (line.line_number, line.ordered_qty.value, line.ordered_qty.uom, line.unit_price) == (
        "1", 1, "KI", Decimal(225))
    assert line.item.sku == "000000000001010700"
    assert po.dates[0].qualifier_raw == "106"
    assert {p.role for p in po.parties} == {PartyRole.VENDOR, PartyRole.SHIP_TO}


def test_napa_005010_order(corpus_dir: Path) -> None:
    po = only_po(corpus_dir, "x12-types___850_test__parse_850_1.edi")
    assert (po.po_number, po.po_date) == ("05832797OD000ZZZ04269", date(2011, 8, 23))
    assert po.source.document is not None and po.source.document.version == "005010"
    assert [(line.line_number, int(line.ordered_qty.value), line.item.buyer_item)
            for line in po.lines] == [("00001", 2, "AD7574"), ("00002", 10, "AD7594"),
                                      ("00003", 5, "AD7784"), ("00004", 1, "AD7822")]
    buyer = next(p for p in po.parties if p.role is PartyRole.BUYER)
    assert (buyer.id, buyer.id_qualifier) == ("ATL00069", PartyIdQualifier.BUYER_ASSIGNED)


def test_003010_order_in_the_staedi_dual_file_reads_yymmdd_dates(corpus_dir: Path) -> None:
    po = only_po(corpus_dir, "staedi__invoice810_po850_dual.edi")
    assert (po.po_number, po.po_release, po.po_date) == ("S115921858", "1017760",
                                                         date(2004, 3, 17))
    assert [(line.line_number, int(line.ordered_qty.value), line.item.buyer_item)
            for line in po.lines] == [("1", 150, "02006"), ("2", 50, "02008"),
                                      ("3", 25, "01019"), ("4", 25, "01220")]
    assert po.source.document is not None and po.source.document.version == "003010"


def test_860_change_lines_keep_raw_change_codes() -> None:
    data = build("860", "BCH*04*SA*PO-77**3*20260101", "POC*1*QI*10*4*EA*2.5*PE*BP*SKU-1",
                 "POC*2*DI*0*0*EA", "POC*3*ZQ*1**EA", version="004010")
    (po,) = map_bytes(data)
    assert isinstance(po, PurchaseOrderChanged)
    assert (po.purpose, po.change_sequence, po.po_date) == (PurchaseOrderPurpose.CHANGE, "3",
                                                            date(2026, 1, 1))
    assert [(line.change_type, line.change_type_raw) for line in po.lines] == [
        (LineChangeType.QUANTITY_CHANGE, "QI"), (LineChangeType.DELETE, "DI"),
        (LineChangeType.UNKNOWN, "ZQ")]
    assert po.lines[0].qty_left_to_receive is not None
    assert po.lines[0].qty_left_to_receive.value == 4
    assert po.lines[0].item.sku == "SKU-1"
    assert any("'ZQ'" in w and "segment 7 (POC)" in w for w in po.warnings)


def test_unknown_purpose_is_unknown_with_a_warning_not_a_rejection() -> None:
    (po,) = map_bytes(build("850", "BEG*99*SA*PO-1**20260101", "PO1*1*1*EA*1"))
    assert isinstance(po, PurchaseOrderChanged)
    assert (po.purpose, po.purpose_raw) == (PurchaseOrderPurpose.UNKNOWN, "99")
    assert po.warnings and "353" in po.warnings[0]


def test_missing_po_number_is_a_mapping_error_naming_the_segment() -> None:
    with pytest.raises(MappingError) as caught:
        map_bytes(build("850", "BEG*00*SA***20260101", "PO1*1*1*EA*1"), "bad.edi")
    assert caught.value.error.segment_index == 4
    assert "bad.edi: segment 4 (BEG)" in str(caught.value)
    assert "BEG03" in str(caught.value)


def test_non_numeric_quantity_is_a_mapping_error() -> None:
    with pytest.raises(MappingError, match=r"segment 5 \(PO1\).*PO102 'TEN' is not a number"):
        map_bytes(build("850", "BEG*00*SA*PO-1**20260101", "PO1*1*TEN*EA*1"))
