"""What every command needs: settings, and where Kafka and the registry are and how to log in."""

from __future__ import annotations

from backbone.cli.exits import fail
from backbone.clients import (
    ClientConfigError,
    Endpoints,
    KafkaClients,
    endpoints_for,
    registry_url,
)
from backbone.kafka_access import AccessRefused, check_access
from backbone.serde import AvroSerde
from backbone.settings import Settings, load_settings
from backbone.stack import LocalStack


def endpoints(settings: Settings | None = None) -> Endpoints:
    """KAFKA_BOOTSTRAP_SERVERS / SCHEMA_REGISTRY_URL (else the running local stack's), with
    the security settings every client uses (backbone/clients.py)."""
    settings = settings or load_settings()
    bootstrap, registry = settings.kafka_bootstrap_servers, _registry_url(settings)
    if not (bootstrap and registry):
        local = LocalStack(settings).running_endpoints()
        if local is None:
            fail(
                "no Kafka to talk to: set KAFKA_BOOTSTRAP_SERVERS and SCHEMA_REGISTRY_URL, or "
                'start the local stack with: eval "$(backbone stack up)"'
            )
        bootstrap, registry = bootstrap or local.bootstrap_servers, registry or local.registry_url
    try:
        found = endpoints_for(settings, bootstrap, registry)
    except ClientConfigError as error:
        fail(f"client configuration: {error}")
    try:
        # a refused login or certificate: one line now, not a 30 s transport timeout later
        check_access(found.kafka)
    except AccessRefused as error:
        fail(str(error))
    return found


def kafka(settings: Settings | None = None) -> KafkaClients:
    """Every Kafka client's configuration (bootstrap servers and security)."""
    return endpoints(settings).kafka


def serde(settings: Settings | None = None) -> AvroSerde:
    settings = settings or load_settings()
    return AvroSerde(endpoints(settings).registry(), max_message_bytes=settings.max_message_bytes)


def _registry_url(settings: Settings) -> str | None:
    try:
        return registry_url(settings)
    except ClientConfigError as error:
        fail(f"client configuration: {error}")
