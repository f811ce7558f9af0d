"""The tracking poller's Prometheus metrics, on a registry of its own (served on
BACKBONE_METRICS_PORT)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class TrackingMetrics:
    """Requests per carrier and outcome, rate-limit waits, shipments in flight, the oldest
    shipment not polled yet."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.requests = Counter(
            "backbone_tracking_requests", "Tracking API requests by carrier and outcome "
            "(events, no-news, not-found, carrier-error, malformed, rate-limited, server-error, "
            "network, token-refused).", ["carrier", "outcome"], registry=self.registry)
        self.rate_limit_waits = Counter(
            "backbone_tracking_rate_limit_waits", "Times a carrier's 429 or daily quota held "
            "requests back.", ["carrier"], registry=self.registry)
        self.rate_limit_wait_seconds = Counter(
            "backbone_tracking_rate_limit_wait_seconds", "Seconds spent waiting on a carrier's "
            "Retry-After or pacing.", ["carrier"], registry=self.registry)
        self.events = Counter(
            "backbone_tracking_events_published", "New ShipmentMilestone events published, by "
            "carrier.", ["carrier"], registry=self.registry)
        self.in_flight = Gauge(
            "backbone_tracking_shipments_in_flight", "Shipments being polled (not terminal, "
            "not too old).", registry=self.registry)
        self.oldest_unpolled = Gauge(
            "backbone_tracking_oldest_unpolled_age_seconds", "How long the longest-waiting due "
            "shipment has been due (0: none is late).", registry=self.registry)
