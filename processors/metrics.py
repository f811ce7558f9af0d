"""Prometheus metrics of a processor process: what every processor counts, plus its own hook.

The engine counts records in and out, dead letters, per-record latency, output age and
consumer lag for every processor alike. A metric that means something only to one processor
(order_fulfillment's acknowledgement SLA) lives in that processor's package and is handed to
the engine as an :data:`OutputMetrics` hook on its :class:`processors.step.ProcessorLogic`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from backbone.events import Event

# (catalog topic, output event) -> None: called for every output event a processor writes
OutputHook = Callable[[str, Event], None]
# (the process's registry, processor name) -> its hook; registers the processor's own metrics
OutputMetrics = Callable[[CollectorRegistry, str], OutputHook]


class ProcessorMetrics:
    """Prometheus metrics of one processor process (own registry: no global state)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.events_in = Counter(
            "backbone_processor_events_in", "Records read by a processor.",
            ["processor", "topic"], registry=self.registry,
        )
        self.events_out = Counter(
            "backbone_processor_events_out",
            "Records written by a processor, by topic and outcome (output, dead_letter, retry, "
            "requeued).", ["processor", "topic", "outcome"], registry=self.registry,
        )
        self.dead_letters = Counter(
            "backbone_processor_dead_letters", "Dead letters written, by category.",
            ["processor", "category"], registry=self.registry,
        )
        self.latency = Histogram(
            "backbone_processor_latency_seconds",
            "Time to process one record (decode, reduce, encode), without Kafka I/O.",
            ["processor"], registry=self.registry,
            buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1.0),
        )
        self.event_age = Histogram(
            "backbone_processor_event_age_seconds",
            "Age of each output event when written: now - occurred_at (how stale the "
            "normalized streams are).", ["processor", "topic"], registry=self.registry,
            buckets=(1, 5, 30, 60, 300, 900, 3600, 6 * 3600, 86400, 7 * 86400),
        )
        self.consumer_lag = Gauge(
            "backbone_processor_consumer_lag",
            "Records between the processor's position and the end of each input partition.",
            ["processor", "topic", "partition"], registry=self.registry,
        )
        self._hooks: list[OutputHook] = []
        # labelled children of the per-record metrics: ``labels()`` checks and locks on every
        # call, which costs more than the observation itself at thousands of records a second
        self._children: dict[tuple[Any, ...], Any] = {}

    def add_output_metrics(self, processor: str, metrics: OutputMetrics) -> None:
        """Register a processor's own metrics; its hook then sees every output event."""
        self._hooks.append(metrics(self.registry, processor))

    def child(self, metric: Any, *labels: str) -> Any:
        """``metric.labels(*labels)``, looked up once per label set."""
        found = self._children.get((metric, *labels))
        if found is None:
            found = self._children[(metric, *labels)] = metric.labels(*labels)
        return found

    def output(self, processor: str, topic: str, event: Event) -> None:
        """Every output event: its age, then the processor's own hooks."""
        age = time.time() - event.occurred_at.timestamp()
        self.child(self.event_age, processor, topic).observe(max(age, 0.0))
        for hook in self._hooks:
            hook(topic, event)

    def observe_lag(self, processor: str, consumer: Any) -> None:
        """Lag of every assigned partition (watermarks from the broker; call it now and then)."""
        try:
            positions = consumer.position(consumer.assignment())
        except Exception:  # not assigned yet, or rebalancing: try again next time
            return
        for position in positions:
            if position.offset < 0:
                continue
            try:
                _low, high = consumer.get_watermark_offsets(position, timeout=1)
            except Exception:
                continue
            self.consumer_lag.labels(processor, position.topic, str(position.partition)).set(
                max(high - position.offset, 0))

    def serve(self, port: int) -> None:
        """Serve /metrics on ``port`` (0: do nothing)."""
        if port:
            start_http_server(port, registry=self.registry)
