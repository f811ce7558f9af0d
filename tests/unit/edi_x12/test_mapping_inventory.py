"""846 -> InventorySnapshot, 947 -> InventoryMovement, 944 / 861 -> GoodsReceipt.

The corpus has no permissively licensed 846/947/944/861 (reference/domain.md section 4), so
these sets are built by hand from the segment layouts of reference/domain.md section 1.3.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from backbone.events import (
    AdjustmentReason,
    GoodsReceipt,
    InventoryMovement,
    InventorySnapshot,
    MovementType,
    ReceiptCondition,
    StockStatus,
)
from connectors.edi_x12.mapping import MappingError
from tests.unit.edi_x12.x12_samples import build, map_bytes


def test_846_one_snapshot_per_item_replacing_quantities() -> None:
    data = build("846", "BIA*00*DD*INV-1*20260105*0600", "N1*WH*DC EAST*UL*0614141000012",
                 "LIN*1*SK*A-1*UP*036000291452", "QTY*17*120*EA", "QTY*33*100*EA",
                 "LIN*2*SK*B-2", "QTY*17*7*CA", "QTY*ZZ*1*CA")
    first, second = map_bytes(data)
    assert isinstance(first, InventorySnapshot) and isinstance(second, InventorySnapshot)
    assert (first.sku, first.location, first.snapshot_id) == ("A-1", "0614141000012", "INV-1")
    assert first.as_of == datetime(2026, 1, 5, 6, 0, tzinfo=UTC)
    assert {k: q.value for k, q in first.quantities.items()} == {"ON_HAND": 120,
                                                                 "AVAILABLE": 100}
    assert set(second.quantities) == {"ON_HAND", "QTY_ZZ"}
    assert first.item.upc == "036000291452"
    # The GLN and the UPC pass their check digits; what the X12 004010 dictionary finds is
    # about the set (every event of it carries it): QTY01 'ZZ' is no code of element 673.
    dictionary = ("segment 11 (QTY): QTY01 'ZZ' is not a code of element 673 in X12 004010",)
    assert first.warnings == second.warnings == dictionary
    assert first.event_id != second.event_id


def test_846_item_without_quantity_is_rejected() -> None:
    with pytest.raises(MappingError, match="item A-1 has no QTY segment"):
        map_bytes(build("846", "BIA*00*DD*INV-1*20260105", "LIN*1*SK*A-1"))


def test_947_signed_adjustments_with_reasons() -> None:
    data = build("947", "W15*20260106*ADJ-1*DEP-1", "N1*WH*DC EAST*9*0012345678901",
                 "W19*AU*-3*EA*012345678905*VN*V-1******************",
                 "W19*05*10*EA**SK*SKU-2", "W19*QQ*1*EA**SK*SKU-3")
    damage, hold, unknown = map_bytes(data)
    assert isinstance(damage, InventoryMovement)
    assert (damage.sku, damage.location, damage.reason, damage.reason_raw) == (
        "V-1", "0012345678901", AdjustmentReason.DAMAGE, "AU")
    assert damage.qty_delta.value == Decimal(-3)
    assert damage.movement_type is MovementType.ADJUSTMENT
    assert isinstance(hold, InventoryMovement)
    assert (hold.movement_type, hold.from_status, hold.to_status) == (
        MovementType.STATUS_CHANGE, StockStatus.AVAILABLE, StockStatus.ON_HOLD)
    assert isinstance(unknown, InventoryMovement)
    assert unknown.reason is AdjustmentReason.UNKNOWN
    assert any("'QQ'" in w for w in unknown.warnings)


def test_944_receipt_one_event_per_sku() -> None:
    data = build("944", "W17*F*20260107*RCPT-1*DEP-9*SHIP-4", "N1*WH*DC EAST*9*0012345678901",
                 "W07*10*CA*012345678905*VN*V-1**LOT1", "W13*2*CA*03",
                 "W07*4*EA**VN*V-2")
    first, second = map_bytes(data)
    assert isinstance(first, GoodsReceipt) and isinstance(second, GoodsReceipt)
    assert (first.sku, first.receipt_id, first.asn_id, first.depositor_order) == (
        "V-1", "RCPT-1", "SHIP-4", "DEP-9")
    assert [(line.received_qty.value, line.condition, line.lot) for line in first.lines] == [
        (10, ReceiptCondition.GOOD, "LOT1"), (2, ReceiptCondition.UNKNOWN, None)]
    assert first.lines[1].condition_raw == "03"
    assert (second.sku, second.lines[0].received_qty.uom) == ("V-2", "EA")


def test_861_receiving_advice_with_damaged_quantity() -> None:
    data = build("861", "BRA*RA-1*20260108*00*1", "PRF*PO-12", "N1*ST*OUR DC*92*DC1",
                 "LIN*1*SK*A-1", "RCD*1*8*EA", "RCD*2*1*EA*****01")
    (receipt,) = map_bytes(data)
    assert isinstance(receipt, GoodsReceipt)
    assert (receipt.sku, receipt.location, receipt.po_number, receipt.receipt_id) == (
        "A-1", "DC1", "PO-12", "RA-1")
    assert [(line.received_qty.value, line.condition) for line in receipt.lines] == [
        (8, ReceiptCondition.GOOD), (1, ReceiptCondition.DAMAGED)]
