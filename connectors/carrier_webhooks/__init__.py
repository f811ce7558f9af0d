"""Carrier webhooks: signed HTTP posts from carriers and aggregators to archived raw bodies and
ShipmentMilestone events on Kafka (``backbone connect carrier-webhooks``).

``build_app(sink, settings, clock=...)`` builds the Starlette app; ``IntakePublisher`` is the
Kafka sink it normally gets; ``signatures`` verifies Standard Webhooks signatures.
"""

from connectors.carrier_webhooks.app import SOURCES, Clock, WebhookSink, build_app
from connectors.carrier_webhooks.publishing import (
    Archived,
    IntakePublisher,
    IntakeTopics,
    RawWebhook,
)
from connectors.carrier_webhooks.signatures import (
    Refusal,
    SecretError,
    SignatureError,
    SignedRequest,
    WebhookSecret,
    verify,
)

__all__ = [
    "SOURCES", "Archived", "Clock", "IntakePublisher", "IntakeTopics", "RawWebhook", "Refusal",
    "SecretError", "SignatureError", "SignedRequest", "WebhookSecret", "WebhookSink",
    "build_app", "verify",
]
