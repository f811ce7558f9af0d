"""X12 transaction sets to canonical events: `map_transaction_set` picks the mapping by ST01.

| sets | event | module |
|---|---|---|
| 850, 860 | PurchaseOrderChanged | purchase_order |
| 855, 865 | SupplierAcknowledgement | acknowledgement |
| 856 | AdvanceShipNotice | ship_notice |
| 846 / 947 / 944, 861 | InventorySnapshot / InventoryMovement / GoodsReceipt | inventory |
| 214 / 945 | ShipmentMilestone (945: + InventoryMovement issues) | shipment_status |
| 810 | Invoice | invoice |

Before mapping, every segment of a set of version 004010 or earlier is checked against the
X12 004010 dictionary (`connectors.edi_x12.dictionary`): too many elements, codes outside
their element's list; each finding is a warning naming the segment and element.

Not canonical events, accepted and skipped (`skip_reason` says why): 940 (a warehouse
shipping order is an instruction we send, not a business fact we learn), 997 / 999 / TA1
(technical acknowledgments of our own outbound files). Any other set is a MappingError.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from backbone.events import Event
from connectors.edi_x12.dictionary import judged, segment_problems
from connectors.edi_x12.errors import EdiError
from connectors.edi_x12.mapping.acknowledgement import map_acknowledgement
from connectors.edi_x12.mapping.common import MappingError, SetContext
from connectors.edi_x12.mapping.inventory import (
    map_inventory_adjustment,
    map_inventory_advice,
    map_receipt,
)
from connectors.edi_x12.mapping.invoice import map_invoice
from connectors.edi_x12.mapping.purchase_order import map_purchase_order
from connectors.edi_x12.mapping.ship_notice import map_ship_notice
from connectors.edi_x12.mapping.shipment_status import (
    map_carrier_status,
    map_warehouse_shipping_advice,
)
from connectors.edi_x12.model import TransactionSetResult

Mapping = Callable[[SetContext], list[Event]]

MAPPINGS: dict[str, Mapping] = {
    "850": map_purchase_order, "860": map_purchase_order,
    "855": map_acknowledgement, "865": map_acknowledgement,
    "856": map_ship_notice,
    "846": map_inventory_advice, "947": map_inventory_adjustment,
    "944": map_receipt, "861": map_receipt,
    "214": map_carrier_status, "945": map_warehouse_shipping_advice,
    "810": map_invoice,
}

NOT_CANONICAL: dict[str, str] = {
    "940": "a warehouse shipping order is an instruction to a warehouse, not a canonical event",
    "997": "a functional acknowledgment is EDI bookkeeping, not a canonical event",
    "999": "an implementation acknowledgment is EDI bookkeeping, not a canonical event",
}


def skip_reason(set_id: str) -> str | None:
    """Why a set is accepted without events, or None when it is mapped (or unsupported)."""
    return NOT_CANONICAL.get(set_id)


def map_transaction_set(
    result: TransactionSetResult, *, file: str = "", recorded_at: datetime | None = None
) -> list[Event]:
    """The canonical events of one accepted set; [] for the NOT_CANONICAL sets.

    Raises MappingError (carrying an EdiError with the segment position) when the set cannot
    be mapped, and ValueError when `result` is a rejection (map only accepted sets).
    """
    ts, interchange, group = result.transaction_set, result.interchange, result.group
    if not result.accepted or ts is None or interchange is None or group is None:
        raise ValueError("map_transaction_set takes accepted transaction sets only")
    name = file or (result.rejection.file if result.rejection else "")
    if ts.set_id in NOT_CANONICAL:
        return []
    mapping = MAPPINGS.get(ts.set_id)
    if mapping is None:
        raise MappingError(
            EdiError(
                file=name,
                problem=f"transaction set {ts.set_id} {ts.control_number} is not supported",
                hint=f"supported: {', '.join(sorted(MAPPINGS))} (skipped: "
                f"{', '.join(sorted(NOT_CANONICAL))}); ask for a mapping or route this "
                "partner's sets elsewhere",
                scope="transaction_set",
                byte_offset=ts.header.byte_offset,
                segment_index=ts.header.segment_index,
                segment_tag=ts.header.tag,
                interchange_control=interchange.control_number,
                group_control=group.control_number,
                transaction_set_control=ts.control_number,
            )
        )
    context = SetContext(name, interchange, group, ts, recorded_at or datetime.now(UTC))
    if judged(group.version):
        for segment in ts.body:
            for problem in segment_problems(segment, interchange.delimiters):
                context.warn(segment, problem)
    try:
        return mapping(context)
    except MappingError:
        raise
    except ArithmeticError as overflow:
        # decimal.Overflow / InvalidOperation from a partner's number: a bad value, not a bug
        # to die on.
        raise context.fail(None, f"a number cannot be computed with: {overflow!r}",
                           "correct the value at the source") from None
    except ValueError as invalid:
        # pydantic refused a value (e.g. a quantity with more than 6 decimals).
        raise context.fail(None, f"a value does not fit the canonical model: "
                           f"{str(invalid).splitlines()[0]} ({_first_detail(invalid)})",
                           "correct the value at the source") from None


def _first_detail(error: ValueError) -> str:
    lines = str(error).splitlines()
    return " ".join(line.strip() for line in lines[1:3]) if len(lines) > 1 else ""


__all__ = [
    "MAPPINGS",
    "NOT_CANONICAL",
    "MappingError",
    "SetContext",
    "map_transaction_set",
    "skip_reason",
]
