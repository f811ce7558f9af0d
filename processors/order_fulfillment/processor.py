"""The order_fulfillment processor: PO, ack, ASN, receipt and invoice events -> OrderLineStatus."""

from __future__ import annotations

from datetime import timedelta
from functools import partial
from typing import Any

from backbone.events import Event
from backbone.settings import Settings
from processors.order_fulfillment.logic import check, route
from processors.order_fulfillment.metrics import ack_sla_metrics
from processors.order_fulfillment.state import FulfillmentRules, apply
from processors.spec import ProcessorSpec
from processors.step import ProcessorLogic

__all__ = ["SPEC", "check", "logic"]

STATUS_TOPIC = "procurement.order-line-status.v1"
SPEC = ProcessorSpec.named(
    "order-fulfillment",
    ("procurement.purchase-order.v1", "procurement.supplier-ack.v1", "procurement.asn.v1",
     "inventory.receipt.v1", "finance.invoice.v1"),
    (STATUS_TOPIC,),
)


def handle(rules: FulfillmentRules, key: str, topic: str, event: Event,
           stored: dict[str, Any] | None) -> tuple[dict[str, Any], list[tuple[str, Event]]]:
    state, status = apply(stored, key, event, rules)
    return state, [] if status is None else [(STATUS_TOPIC, status)]


def rules_from(settings: Settings) -> FulfillmentRules:
    return FulfillmentRules(ack_sla=timedelta(hours=settings.order_ack_sla_hours))


def logic(settings: Settings) -> ProcessorLogic:
    return with_rules(rules_from(settings))


def with_rules(rules: FulfillmentRules) -> ProcessorLogic:
    return ProcessorLogic(SPEC, partial(handle, rules), route, ack_sla_metrics)
