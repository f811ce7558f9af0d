"""``backbone connect carrier-webhooks``: serve the carrier webhook endpoint with uvicorn."""

from __future__ import annotations

import logging
from dataclasses import replace

import typer

from backbone.cli.context import endpoints, serde
from backbone.cli.exits import fail
from backbone.settings import load_settings
from connectors.carrier_webhooks.app import build_app
from connectors.carrier_webhooks.publishing import IntakePublisher, IntakeTopics
from connectors.carrier_webhooks.signatures import SecretError


def carrier_webhooks(
    host: str = typer.Option("127.0.0.1", "--host",
                             help="Interface to listen on (0.0.0.0: every interface)."),
    port: int = typer.Option(8088, "--port", help="TCP port to listen on."),
    archive_topic: str | None = typer.Option(None, "--archive-topic", hidden=True),
    milestone_topic: str | None = typer.Option(None, "--milestone-topic", hidden=True),
    dead_letter_topic: str | None = typer.Option(None, "--dead-letter-topic", hidden=True),
) -> None:
    """POST /webhooks/<source> (easypost, aftership, shipengine, shippo, ups, fedex, usps), each
    verified with its provider's own scheme and secret (BACKBONE_WEBHOOK_SECRET_<SOURCE>;
    Standard Webhooks with BACKBONE_WEBHOOK_SECRET for generic senders); GET /healthz,
    GET /metrics. Answers 2xx only once Kafka has the event.
    """
    import uvicorn

    settings = load_settings()
    topics = IntakeTopics()
    if archive_topic:
        topics = replace(topics, archive=replace(topics.archive, name=archive_topic))
    if milestone_topic:
        topics = replace(topics, milestones=replace(topics.milestones, name=milestone_topic))
    if dead_letter_topic:
        topics = replace(topics, dead_letters=replace(topics.dead_letters,
                                                      name=dead_letter_topic))
    sink = IntakePublisher(endpoints(settings).kafka, serde(settings),
                           delivery_timeout_ms=settings.webhook_delivery_timeout_ms,
                           topics=topics)
    try:
        try:
            app = build_app(sink, settings)
        except SecretError as error:
            fail(str(error))
        logging.basicConfig(level=logging.INFO,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        uvicorn.run(app, host=host, port=port, log_level="info")
    finally:
        sink.close()
