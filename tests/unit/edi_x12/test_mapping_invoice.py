"""810 -> Invoice over the staedi invoices (TDS01 has two implied decimals)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from backbone.events import Invoice
from tests.unit.edi_x12.x12_samples import map_corpus


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
    assert first.warnings == ()
    # The second invoice repeats the first one's TDS: kept, and reported.
    assert second.total_amount == Decimal("2554.38")
    assert [int(line.invoiced_qty.value) for line in second.lines] == [50, 100]
    assert any("differs from the sum of the lines 1851" in w for w in second.warnings)
    assert first.event_id != second.event_id
