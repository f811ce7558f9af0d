"""Shipment status: raw carrier milestones to one normalized ShipmentStatus per shipment.

The pure logic (mapping tables, the milestone reducer) lives here so both
``backbone shipments normalize`` and the streaming processor share it.
"""

from processors.shipment_status.mapping import (
    Attribute,
    MappingFileError,
    Resolution,
    StatusMappings,
    load_mappings,
)
from processors.shipment_status.state import (
    RANK,
    TERMINAL,
    MilestoneEffect,
    Outcome,
    ShipmentMemory,
    apply,
    dedup_key,
)

__all__ = [
    "RANK",
    "TERMINAL",
    "Attribute",
    "MappingFileError",
    "MilestoneEffect",
    "Outcome",
    "Resolution",
    "ShipmentMemory",
    "StatusMappings",
    "apply",
    "dedup_key",
    "load_mappings",
]
