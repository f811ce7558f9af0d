"""The stock_reconciliation processor: snapshots, movements, ASNs, receipts -> positions, breaks."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from backbone.events import Event
from backbone.events.inventory import InventoryDiscrepancy
from backbone.settings import Settings
from processors.api import processor
from processors.step import ProcessorLogic
from processors.stock_reconciliation.logic import route
from processors.stock_reconciliation.state import ReconciliationRules, apply

SPEC = processor("stock-reconciliation")
POSITION_TOPIC = "inventory.position.v1"
DISCREPANCY_TOPIC = "inventory.discrepancy.v1"


def handle(rules: ReconciliationRules, key: str, topic: str, event: Event,
           stored: dict[str, Any] | None) -> tuple[dict[str, Any], list[tuple[str, Event]]]:
    state, outputs = apply(stored, key, event, rules)
    return state, [(DISCREPANCY_TOPIC if isinstance(output, InventoryDiscrepancy)
                    else POSITION_TOPIC, output) for output in outputs]


def rules_from(settings: Settings) -> ReconciliationRules:
    return ReconciliationRules(tolerance=settings.stock_tolerance)


def logic(rules: ReconciliationRules, sites: Mapping[str, str] | None = None) -> ProcessorLogic:
    return ProcessorLogic(SPEC, partial(handle, rules), partial(route, dict(sites or {})))
