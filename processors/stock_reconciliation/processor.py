"""The stock_reconciliation processor: snapshots, movements, ASNs, receipts -> positions, breaks."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from backbone.events import Event
from backbone.events.inventory import InventoryDiscrepancy
from backbone.settings import Settings
from processors.spec import ProcessorSpec
from processors.step import ProcessorLogic
from processors.stock_reconciliation.logic import check, route
from processors.stock_reconciliation.state import ReconciliationRules, apply

__all__ = ["SPEC", "check", "logic"]

POSITION_TOPIC = "inventory.position.v1"
DISCREPANCY_TOPIC = "inventory.discrepancy.v1"
SPEC = ProcessorSpec.named(
    "stock-reconciliation",
    ("inventory.snapshot.v1", "inventory.movement.v1", "procurement.asn.v1",
     "inventory.receipt.v1"),
    (POSITION_TOPIC, DISCREPANCY_TOPIC),
)


def handle(rules: ReconciliationRules, key: str, topic: str, event: Event,
           stored: dict[str, Any] | None) -> tuple[dict[str, Any], list[tuple[str, Event]]]:
    state, outputs = apply(stored, key, event, rules)
    return state, [(DISCREPANCY_TOPIC if isinstance(output, InventoryDiscrepancy)
                    else POSITION_TOPIC, output) for output in outputs]


def rules_from(settings: Settings) -> ReconciliationRules:
    return ReconciliationRules(tolerance=settings.stock_tolerance)


def logic(settings: Settings) -> ProcessorLogic:
    return with_rules(rules_from(settings), settings.stock_sites)


def with_rules(rules: ReconciliationRules,
               sites: Mapping[str, str] | None = None) -> ProcessorLogic:
    return ProcessorLogic(SPEC, partial(handle, rules), partial(route, dict(sites or {})))
