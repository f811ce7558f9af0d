"""Prometheus metrics of the Iceberg sink: rows written, commits and their latency, lag, dead
letters (its own CollectorRegistry, served like the other processes' on BACKBONE_METRICS_PORT)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from backbone.metrics import serve


class SinkMetrics:
    """What ``backbone sink iceberg`` exports."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.rows = Counter("backbone_sink_rows_written", "Rows committed to a table.",
                            ["table"], registry=self.registry)
        self.commits = Counter("backbone_sink_commits", "Snapshots committed (data + offsets).",
                               ["table"], registry=self.registry)
        self.commit_seconds = Histogram(
            "backbone_sink_commit_seconds",
            "From the start of a table's batch (decode, files, catalog) to its committed snapshot.",
            ["table"], registry=self.registry,
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0))
        self.lag = Gauge("backbone_sink_consumer_lag",
                         "Records in Kafka not yet committed to the table, by partition.",
                         ["topic", "partition"], registry=self.registry)
        self.dead_letters = Counter("backbone_sink_dead_letters",
                                    "Records the sink could not turn into rows.",
                                    ["topic", "category"], registry=self.registry)

    def serve(self, port: int) -> None:
        serve(self.registry, port)
