"""855 / 865 -> SupplierAcknowledgement: header ack type and every ACK of every line."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

from backbone.events import AckType, LineAckStatus, SupplierAcknowledgement
from connectors.edi_x12 import read_file
from tests.unit.edi_x12.x12_samples import build, map_bytes, map_corpus


def test_node_x12_855_lines_rejected_under_a_no_change_header(corpus_dir: Path) -> None:
    ((_, events),) = map_corpus(corpus_dir / "node-x12__855.edi")
    (ack,) = events
    assert isinstance(ack, SupplierAcknowledgement)
    assert (ack.po_number, ack.ack_type, ack.ack_type_raw) == ("POTEST1112", AckType.ACCEPTED,
                                                               "AD")
    # BAK06 60169126 is the request reference; BAK08 (seller's order number) is empty.
    assert (ack.po_date, ack.ack_date, ack.seller_order_number) == (
        date(2020, 10, 15), date(2020, 10, 15), None)
    assert ack.buyer == "123MILL"
    assert [(line.line_number, line.acks[0].status, line.acks[0].status_raw,
             line.acks[0].quantity.value if line.acks[0].quantity else None)
            for line in ack.lines] == [
        ("1", LineAckStatus.ACCEPTED, "IA", 3), ("2", LineAckStatus.REJECTED, "IR", 0),
        ("3", LineAckStatus.REJECTED, "IR", 0), ("4", LineAckStatus.ACCEPTED, "IA", 2)]
    assert [line.acks[0].reason_raw for line in ack.lines] == [
        "BI:ACK:AC", "BI:ACK:CW", "BI:ACK:KK", "BI:ACK:AC"]
    assert ack.lines[0].item.gtin == "9780446360265"
    assert ack.lines[0].unit_price == Decimal("4.5")
    assert ack.lines[2].unit_price == Decimal(0)
    assert ack.warnings == ()


def test_x12_types_855_with_wrong_se01_yields_no_event(corpus_dir: Path) -> None:
    path = corpus_dir / "x12-types___855_test__test_855_1.edi"
    assert map_corpus(path) == []
    (rejected,) = [r for r in read_file(path) if r.rejection is not None]
    assert "SE01 says 10 segments, counted 6" in str(rejected.rejection)


def test_split_line_carries_several_acks_with_their_dates() -> None:
    data = build("855", "BAK*00*AC*PO-9*20260101****20260102",
                 "PO1*1*10*EA*2.00**BP*SKU-9",
                 "ACK*IA*6*EA*068*20260110",
                 "ACK*IB*4*EA*067*20260201",
                 "PO1*2*1*EA*1**BP*SKU-8",
                 "ACK*XX*1*EA")
    (ack,) = map_bytes(data)
    assert isinstance(ack, SupplierAcknowledgement)
    assert ack.ack_type is AckType.ACCEPTED_WITH_CHANGES
    first, second = ack.lines
    assert [(a.status, a.quantity.value if a.quantity else None) for a in first.acks] == [
        (LineAckStatus.ACCEPTED, 6), (LineAckStatus.BACKORDERED, 4)]
    assert first.acks[0].promised_ship_date == date(2026, 1, 10)
    assert first.acks[1].promised_delivery_date == date(2026, 2, 1)
    assert (second.acks[0].status, second.acks[0].status_raw) == (LineAckStatus.UNKNOWN, "XX")
    assert any("'XX'" in w for w in ack.warnings)


def test_865_change_acknowledgement() -> None:
    data = build("865", "BCA*01*RD*PO-5**2*20251230", "POC*1*PC*5*5*EA*3.10*PE*BP*A1",
                 "ACK*IR*5*EA")
    (ack,) = map_bytes(data)
    assert isinstance(ack, SupplierAcknowledgement)
    assert (ack.po_number, ack.ack_type, ack.change_sequence, ack.po_date) == (
        "PO-5", AckType.REJECTED, "2", date(2025, 12, 30))
    assert ack.lines[0].acks[0].status is LineAckStatus.REJECTED
    assert ack.lines[0].unit_price == Decimal("3.10")
