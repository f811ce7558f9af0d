"""810 -> Invoice over the staedi invoices (TDS01 has two implied decimals)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from backbone.events import Invoice
from tests.unit.edi_x12.x12_samples import build, map_bytes, map_corpus


@pytest.mark.parametrize("name", ["staedi__simple810.edi", "staedi__invoice810_po850_dual.edi"])
def test_snack_invoices(corpus_dir: Path, name: str) -> None:
    invoices = [e for _, events in map_corpus(corpus_dir / name) for e in events
                if isinstance(e, Invoice)]
    assert [(i.invoice_number, i.invoice_date, i.po_number) for i in invoices] == [
        ("00001", date(1997, 12, 11), "A99999-01"), ("00001", date(1997, 12, 15), "A99999-04")]
    first, second = invoices
    assert first.buyer == "RECEIVERISA"
    assert [int(line.invoiced_qty.value) for line in first.lines] == [16, 13, 32, 51, 9, 85, 1]
    assert {line.unit_price for line in first.lines} == {Decimal("12.34")}
    assert first.lines[0].item.case_code == "002840022222"
    assert first.lines[0].item.description == "CRUNCHY CHIPS LSS"
    assert first.lines[0].amount == Decimal("197.44")
    assert first.total_amount == Decimal("2554.38")  # TDS*255438, = 207 cases x 12.34
    # Every IT1 reads "IT1**16*CA...": IT101 is empty, so each line is numbered by position
    # and says so; nothing else is wrong with the first invoice.
    assert [line.line_number for line in first.lines] == ["1", "2", "3", "4", "5", "6", "7"]
    assert len(first.warnings) == 7
    assert all("IT101 (assigned identification) is empty" in w for w in first.warnings)
    # The second invoice repeats the first one's TDS: kept, and reported on it alone (each
    # invoice of the group stands alone).
    assert second.total_amount == Decimal("2554.38")
    assert [int(line.invoiced_qty.value) for line in second.lines] == [50, 100]
    tds = [w for w in second.warnings if "TDS01" in w]
    assert tds == [f"segment {tds[0].split()[1]} (TDS): TDS01 total 2554.38 differs from lines "
                   "1851.0000 + allowances and charges 0 + taxes 0 = 1851.0000"]
    assert first.event_id != second.event_id


def _810(*segments: str) -> bytes:
    return build("810", "BIG*20260301*INV-9**", *segments, version="004010")


def test_an_invoice_without_big04_is_published_without_a_po() -> None:
    """Services billed with no order: BIG04 is optional in X12."""
    (invoice,) = map_bytes(_810("N1*RE*UTILITY CO", "IT1*1*1*MO*120", "TDS*12000"))
    assert isinstance(invoice, Invoice)
    assert (invoice.po_number, invoice.correlation.po_number) == ("", None)
    assert invoice.total_amount == Decimal("120.00") and invoice.warnings == ()


def test_a_header_ref_po_stands_in_for_an_empty_big04() -> None:
    (invoice,) = map_bytes(_810("REF*PO*PO-55", "IT1*1*2*EA*5", "TDS*1000"))
    assert isinstance(invoice, Invoice)
    assert (invoice.po_number, invoice.correlation.po_number) == ("PO-55", "PO-55")


def test_allowances_and_charges_at_both_levels_make_up_the_total() -> None:
    # lines 2 x 50.00 + 1 x 20.00 = 120.00; line allowance 5.00; freight charge 12.50;
    # header discount 2.5 (written with a point); tax 4.00 -> 120 - 5 + 12.5 - 2.5 + 4 = 129.00
    (invoice,) = map_bytes(_810(
        "IT1*1*2*EA*50**VN*A", "SAC*A*C310***500", "IT1*2*1*EA*20**VN*B",
        "TDS*12900", "TXI*ST*4.00", "SAC*C*D240***1250****EA*1*****FREIGHT",
        "SAC*A*C310***2.5", "SAC*N*B840***0", "CTT*2"))
    assert isinstance(invoice, Invoice)
    assert invoice.total_amount == Decimal("129.00")
    assert invoice.warnings == ()
    assert [(c.indicator_raw, c.code_raw, c.amount) for c in invoice.lines[0].allowances_charges
            ] == [("A", "C310", Decimal("-5.00"))]
    assert invoice.lines[1].allowances_charges == ()
    assert [(c.indicator_raw, c.code_raw, c.amount, c.description)
            for c in invoice.allowances_charges] == [
        ("C", "D240", Decimal("12.50"), "FREIGHT"), ("A", "C310", Decimal("-2.5"), None),
        ("N", "B840", Decimal("0"), None)]


def test_a_total_that_charges_do_not_explain_is_still_a_warning() -> None:
    (invoice,) = map_bytes(_810("IT1*1*2*EA*50", "TDS*11000", "SAC*C*D240***500"))
    assert isinstance(invoice, Invoice)
    assert invoice.total_amount == Decimal("110.00")
    assert any("TDS01 total 110.00 differs from lines 100.0000 + allowances and charges "
               "5.0000 + taxes 0 = 105.0000" in w for w in invoice.warnings)


def test_an_empty_it101_is_numbered_by_position_with_a_warning() -> None:
    (invoice,) = map_bytes(_810("IT1**2*EA*50", "IT1*7*1*EA*5", "TDS*10500"))
    assert isinstance(invoice, Invoice)
    assert [line.line_number for line in invoice.lines] == ["1", "7"]
    assert invoice.warnings == (
        "segment 5 (IT1): IT101 (assigned identification) is empty; the line is numbered 1 "
        "by its position in the set",)
