"""The shipment_status processor: raw ShipmentMilestone events to one ShipmentStatus per shipment.

The milestone model itself is the pure reducer in :mod:`processors.shipment_status.state` with the
mapping tables of :mod:`processors.shipment_status.mapping` (shared with ``backbone shipments
normalize``); this module binds them to the engine: state per ``carrier:tracking`` key is the last
ShipmentStatus plus the reducer's small memory, stored as JSON in Quix state. An unmapped code
raises UnknownCodeError, which the engine files as an UNKNOWN_CODE dead letter; a duplicate emits
nothing; every other event emits the shipment's new status.
"""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path
from typing import Any

from backbone.events import Event
from backbone.events.logistics import ShipmentMilestone, ShipmentStatus
from backbone.serde import AvroSerde
from backbone.settings import Settings
from backbone.topics import Topic
from processors.shipment_status.mapping import StatusMappings, load_mappings
from processors.shipment_status.state import ShipmentMemory, apply
from processors.spec import ProcessorSpec
from processors.step import ProcessorLogic

STATUS_TOPIC = "logistics.shipment-status.v1"
SPEC = ProcessorSpec.named("shipment-status", ("logistics.shipment-milestone.raw.v1",),
                           (STATUS_TOPIC,))
MAPPINGS_ENV = "BACKBONE_STATUS_MAPPINGS"


def mappings_path(settings: Settings | None = None) -> Path | None:
    """The operator's override file (BACKBONE_STATUS_MAPPINGS), if any."""
    configured = getattr(settings, "status_mappings", None) if settings is not None else None
    text = configured or os.environ.get(MAPPINGS_ENV)
    return Path(text) if text else None


def current_mappings(settings: Settings | None = None) -> StatusMappings:
    """The shipped tables with the operator's overrides, read now."""
    return load_mappings(mappings_path(settings))


def handle(mappings: StatusMappings, key: str, topic: str, event: Event,
           stored: dict[str, Any] | None) -> tuple[dict[str, Any] | None, list[tuple[str, Event]]]:
    """One milestone applied to the stored status of its shipment."""
    assert isinstance(event, ShipmentMilestone)
    status = ShipmentStatus.from_json_dict(stored["status"]) if stored else None
    memory = ShipmentMemory.from_dict(stored["memory"]) if stored else None
    outcome = apply(status, event, mappings, memory)
    if outcome.duplicate:
        return stored, []
    # Python-mode dumps (datetimes, enums): the engine stores them as JSON, and from_json_dict /
    # from_dict read that back; a JSON-mode dump here would cost twice as much per record.
    # Fields at their default are left out (validation restores them): a quarter fewer bytes
    # to dump, store in RocksDB and write to the changelog on every record.
    new_state = {"status": outcome.status.model_dump(exclude_defaults=True),
                 "memory": outcome.memory.model_dump(exclude_defaults=True)}
    return new_state, [(STATUS_TOPIC, outcome.status)]


def logic(settings: Settings) -> ProcessorLogic:
    """The processor with the shipped tables and the settings' overrides, read now."""
    return with_mappings(current_mappings(settings))


def with_mappings(mappings: StatusMappings) -> ProcessorLogic:
    return ProcessorLogic(SPEC, partial(handle, mappings))


def check(topic: Topic, value: bytes | None, serde: AvroSerde, settings: Settings) -> None:
    """Stateless check for ``dlq replay --dry-run``: decodes and maps the code with the tables
    and the settings' overrides as they are now (as ``logic(settings)`` would); raises what the
    processor would dead-letter the record for."""
    event = serde.deserialize(topic, value)
    assert isinstance(event, ShipmentMilestone)
    current_mappings(settings).resolve(event.raw_status)
