"""Order fulfillment's own metric: PO lines that became overdue for a supplier acknowledgement.

Handed to the engine as the processor's output-metrics hook (see processors/metrics.py): it
watches every OrderLineStatus the processor writes and counts each line the first time it is
flagged ``ack_overdue``.
"""

from __future__ import annotations

from collections import OrderedDict

from prometheus_client import CollectorRegistry, Counter

from backbone.events import Event, OrderLineStatus
from processors.metrics import OutputHook

REMEMBERED_ORDERS = 100_000  # bounded, so memory stays flat


def ack_sla_metrics(registry: CollectorRegistry, processor: str) -> OutputHook:
    """Register ``backbone_supplier_ack_sla_breaches`` and return the hook that counts them."""
    breaches = Counter(
        "backbone_supplier_ack_sla_breaches",
        "PO lines that became overdue for a supplier acknowledgement (counted once per "
        "line and process; a restart may count a line again once).",
        ["processor"], registry=registry,
    ).labels(processor)
    # PO key -> overdue line numbers last emitted
    overdue_by_order: OrderedDict[str, frozenset[str]] = OrderedDict()

    def observe(topic: str, event: Event) -> None:
        if not isinstance(event, OrderLineStatus):
            return
        key = f"{event.buyer}|{event.po_number}"
        overdue = frozenset(line.line_number for line in event.lines if line.flags.ack_overdue)
        new = overdue - overdue_by_order.get(key, frozenset())
        if new:
            breaches.inc(len(new))
        overdue_by_order[key] = overdue
        overdue_by_order.move_to_end(key)
        if len(overdue_by_order) > REMEMBERED_ORDERS:
            overdue_by_order.popitem(last=False)

    return observe
