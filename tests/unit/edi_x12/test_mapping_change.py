"""860 / 865 change semantics (issue 15): POC02 and POC04 per line, deletions without a
quantity, dates with their qualifiers at every level, bad dates as warnings.

The corpus holds no 860 or 865; these sets are written by hand from the X12 004010 segment
definitions (POC03 and POC04 are conditional, POC02 is mandatory; element 670 and 374 codes).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from backbone.events import (
    DateQualifier,
    LineAckStatus,
    LineChangeType,
    PurchaseOrderChanged,
    SupplierAcknowledgement,
)
from tests.unit.edi_x12.x12_samples import build, map_bytes

CHANGE_860 = build(
    "860",
    "BCH*04*SA*PO-77**2*20260101",
    "DTM*002*20260120",
    "DTM*037*20260110",
    "POC*1*DI**30*EA",
    "POC*2*PC***EA*3.75*PE*VN*SKU-2",
    "DTM*038*20260115",
    "DTM*067*20261399",
    "POC**QI*12*12*CA*9**VN*SKU-3",
    "POC*4*CA*5*5*EA*1.25**VN*SKU-4",
    "DTM*002*20260130",
)


def test_a_deleted_line_needs_no_quantity_and_says_it_states_none() -> None:
    (po,) = map_bytes(CHANGE_860)
    assert isinstance(po, PurchaseOrderChanged)
    deleted = po.lines[0]
    assert (deleted.line_number, deleted.change_type, deleted.change_type_raw) == (
        "1", LineChangeType.DELETE, "DI")
    assert deleted.ordered_qty_stated is False and deleted.ordered_qty.value == 0
    assert deleted.qty_left_to_receive is not None
    assert (deleted.qty_left_to_receive.value, deleted.qty_left_to_receive.uom) == (30, "EA")


def test_a_price_change_without_quantity_keeps_its_price_and_no_quantity() -> None:
    (po,) = map_bytes(CHANGE_860)
    assert isinstance(po, PurchaseOrderChanged)
    price = po.lines[1]
    assert (price.change_type, price.change_type_raw, price.unit_price) == (
        LineChangeType.PRICE_CHANGE, "PC", Decimal("3.75"))
    assert price.ordered_qty_stated is False
    assert price.qty_left_to_receive is None
    increase = po.lines[2]
    assert (increase.change_type, increase.ordered_qty.value, increase.ordered_qty.uom,
            increase.ordered_qty_stated) == (LineChangeType.QUANTITY_CHANGE, 12, "CA", True)


def test_dates_keep_their_qualifiers_at_header_and_line_and_a_bad_one_is_a_warning() -> None:
    (po,) = map_bytes(CHANGE_860)
    assert isinstance(po, PurchaseOrderChanged)
    assert [(d.qualifier, d.qualifier_raw, d.date) for d in po.dates] == [
        (DateQualifier.REQUESTED_DELIVERY, "002", date(2026, 1, 20)),
        (DateQualifier.SHIP_NOT_BEFORE, "037", date(2026, 1, 10))]
    assert [(d.qualifier_raw, d.date) for d in po.lines[1].dates] == [
        ("038", date(2026, 1, 15))]
    assert [(d.qualifier_raw, d.date) for d in po.lines[3].dates] == [
        ("002", date(2026, 1, 30))]
    bad = [w for w in po.warnings if "DTM02 '20261399'" in w]
    assert len(bad) == 1 and "(DTM)" in bad[0] and "'067'" in bad[0]


def test_an_empty_line_number_is_numbered_by_position_with_a_warning() -> None:
    (po,) = map_bytes(CHANGE_860)
    assert isinstance(po, PurchaseOrderChanged)
    assert po.lines[2].line_number == "3"
    assert any("POC01 (assigned identification) is empty; the line is numbered 3" in w
               for w in po.warnings)


def test_an_850_line_without_quantity_is_still_refused() -> None:
    data = build("850", "BEG*00*SA*PO-1**20260101", "PO1*1**EA*1")
    try:
        map_bytes(data)
    except Exception as failure:  # MappingError; its message names the element
        assert "PO102 (quantity ordered) of line 1 is empty" in str(failure)
    else:
        raise AssertionError("an 850 line without quantity was accepted")


ACK_865 = build(
    "865",
    "BCA*00*AC*PO-77**2*20260101",
    "DTM*068*20260112",
    "POC*1*DI**0*EA",
    "ACK*ID*30*EA",
    "POC*2*QD*8*8*EA*3.75**VN*SKU-2",
    "DTM*002*20260125",
    "ACK*IQ*8*EA*068*20260118",
    "DTM*067*20260122",
    "ACK*IB*2*EA*017*2026AB01",
)


def test_865_lines_carry_the_change_they_answer_and_every_date() -> None:
    (ack,) = map_bytes(ACK_865)
    assert isinstance(ack, SupplierAcknowledgement)
    assert [(d.qualifier_raw, d.date) for d in ack.dates] == [("068", date(2026, 1, 12))]
    deleted, decreased = ack.lines
    assert (deleted.change_type, deleted.change_type_raw, deleted.ordered_qty) == (
        LineChangeType.DELETE, "DI", None)
    assert [a.status for a in deleted.acks] == [LineAckStatus.CANCELLED]
    assert (decreased.change_type, decreased.change_type_raw) == (
        LineChangeType.QUANTITY_CHANGE, "QD")
    assert decreased.qty_left_to_receive is not None
    assert decreased.qty_left_to_receive.value == 8
    assert [(d.qualifier_raw, d.date) for d in decreased.dates] == [("002", date(2026, 1, 25))]
    first, second = decreased.acks
    assert first.promised_ship_date == date(2026, 1, 18)
    assert [(d.qualifier, d.qualifier_raw, d.date) for d in first.dates] == [
        (DateQualifier.PROMISED_SHIP, "068", date(2026, 1, 18)),
        (DateQualifier.PROMISED_DELIVERY, "067", date(2026, 1, 22))]
    assert second.status is LineAckStatus.BACKORDERED and second.dates == ()
    assert any("ACK05 '2026AB01' (qualifier '017') is not a date" in w for w in ack.warnings)


def test_promised_dates_follow_their_374_qualifiers() -> None:
    """069 is 'Promised for Delivery', 079 'Promised for Shipment' (X12 element 374)."""
    data = build("855", "BAK*00*AC*PO-9*20260101", "PO1*1*5*EA*1",
                 "ACK*IA*5*EA*069*20260120", "ACK*IA*0*EA*079*20260115")
    (ack,) = map_bytes(data)
    assert isinstance(ack, SupplierAcknowledgement)
    delivery, ship = ack.lines[0].acks
    assert (delivery.promised_delivery_date, delivery.promised_ship_date) == (
        date(2026, 1, 20), None)
    assert (ship.promised_ship_date, ship.promised_delivery_date) == (date(2026, 1, 15), None)
    assert [d.qualifier for d in delivery.dates + ship.dates] == [
        DateQualifier.PROMISED_DELIVERY, DateQualifier.PROMISED_SHIP]
