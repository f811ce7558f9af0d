"""The registry of canonical events: record name (short or full) -> model."""

from __future__ import annotations

from types import MappingProxyType

from backbone.events.envelope import Event
from backbone.events.finance import Invoice
from backbone.events.inventory import (
    GoodsReceipt,
    InventoryDiscrepancy,
    InventoryMovement,
    InventoryPosition,
    InventorySnapshot,
)
from backbone.events.logistics import ShipmentMilestone, ShipmentStatus
from backbone.events.procurement import (
    AdvanceShipNotice,
    OrderLineStatus,
    PurchaseOrderChanged,
    SupplierAcknowledgement,
)

_MODELS: tuple[type[Event], ...] = (
    PurchaseOrderChanged,
    SupplierAcknowledgement,
    AdvanceShipNotice,
    OrderLineStatus,
    GoodsReceipt,
    InventoryMovement,
    InventorySnapshot,
    InventoryPosition,
    InventoryDiscrepancy,
    ShipmentMilestone,
    ShipmentStatus,
    Invoice,
)

EVENT_MODELS: MappingProxyType[str, type[Event]] = MappingProxyType(
    {model.event_type_name(): model for model in _MODELS}
)
"""Every canonical event model by short record name (e.g. ``ShipmentMilestone``); read-only."""

_BY_FULL_NAME = MappingProxyType({model.record_name(): model for model in _MODELS})


def model_for(name: str) -> type[Event]:
    """The model of a record name, short (``ShipmentMilestone``) or full
    (``backbone.logistics.ShipmentMilestone``); KeyError names the known ones."""
    model = EVENT_MODELS.get(name) or _BY_FULL_NAME.get(name)
    if model is None:
        known = ", ".join(sorted(EVENT_MODELS))
        raise KeyError(f"no canonical event named {name!r}; known events: {known}")
    return model
