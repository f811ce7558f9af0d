"""order_fulfillment's own metric, through the engine's output hook: each overdue line once."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from backbone.samples import sample_order_line_status, sample_shipment_status
from processors.metrics import ProcessorMetrics
from processors.order_fulfillment.metrics import ack_sla_metrics

TOPIC = "procurement.order-line-status.v1"


def _breaches(registry: CollectorRegistry) -> float:
    value = registry.get_sample_value("backbone_supplier_ack_sla_breaches_total",
                                      {"processor": "order-fulfillment"})
    return value or 0.0


def test_an_overdue_line_is_counted_once_and_a_new_one_again() -> None:
    metrics = ProcessorMetrics()
    metrics.add_output_metrics("order-fulfillment", ack_sla_metrics)
    status = sample_order_line_status(seed=1)
    first, *others = status.lines
    overdue = first.model_copy(update={"flags": first.flags.model_copy(
        update={"ack_overdue": True})})
    flagged = status.model_copy(update={"lines": (overdue, *others)})
    metrics.output("order-fulfillment", TOPIC, status)
    assert _breaches(metrics.registry) == 0
    metrics.output("order-fulfillment", TOPIC, flagged)
    metrics.output("order-fulfillment", TOPIC, flagged)  # still overdue: not counted again
    assert _breaches(metrics.registry) == 1


def test_other_processors_do_not_export_it_and_other_events_are_ignored() -> None:
    plain = ProcessorMetrics()
    plain.output("shipment-status", "logistics.shipment-status.v1", sample_shipment_status())
    assert plain.registry.get_sample_value("backbone_supplier_ack_sla_breaches_total",
                                           {"processor": "shipment-status"}) is None
    hooked = ProcessorMetrics()
    hooked.add_output_metrics("order-fulfillment", ack_sla_metrics)
    hooked.output("order-fulfillment", TOPIC, sample_shipment_status())
    assert _breaches(hooked.registry) == 0
