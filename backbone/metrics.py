"""Prometheus metrics of the publishing side (connectors), shared so names never drift.

Each process builds its metrics on its own ``CollectorRegistry`` (no global state) and serves
them with :func:`serve`. The processors' metrics live in processors/metrics.py; together they
are every name deploy/prometheus and deploy/grafana use (tests check it).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server


class ConnectorMetrics:
    """What a connector process exports: events published, dead letters, source-offset age."""

    def __init__(self, connector: str, registry: CollectorRegistry | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.connector = connector
        self.registry = registry or CollectorRegistry()
        self._clock = clock
        self._last_commit = clock()
        self.published = Counter(
            "backbone_events_published", "Canonical events Kafka acknowledged, by topic.",
            ["component", "topic"], registry=self.registry,
        )
        self.publish_failures = Counter(
            "backbone_publish_failures", "Events Kafka did not acknowledge, by topic.",
            ["component", "topic"], registry=self.registry,
        )
        self.publish_seconds = Histogram(
            "backbone_publish_seconds", "From produce to Kafka's acknowledgement.",
            ["component"], registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0),
        )
        self.dead_letters = Counter(
            "backbone_connector_dead_letters", "Source records sent to the dead-letter topic.",
            ["connector"], registry=self.registry,
        )
        self.offset_age = Gauge(
            "backbone_connector_source_offset_age_seconds",
            "Seconds since the connector last committed a source offset (stale connector).",
            ["connector"], registry=self.registry,
        )
        self.offset_age.labels(connector).set_function(
            lambda: self._clock() - self._last_commit)

    def delivered(self, topic: str, latency_s: float) -> None:
        self.published.labels(self.connector, topic).inc()
        self.publish_seconds.labels(self.connector).observe(latency_s)

    def failed(self, topic: str) -> None:
        self.publish_failures.labels(self.connector, topic).inc()

    def dead_lettered(self, count: int = 1) -> None:
        self.dead_letters.labels(self.connector).inc(count)

    def offsets_committed(self) -> None:
        self._last_commit = self._clock()


def serve(registry: CollectorRegistry, port: int, host: str = "127.0.0.1") -> None:
    """Serve ``/metrics`` of ``registry`` on ``host:port`` in a daemon thread (0: do nothing)."""
    if port:
        start_http_server(port, addr=host, registry=registry)
