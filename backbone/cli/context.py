"""What every command needs: settings, and where Kafka and the registry are."""

from __future__ import annotations

from backbone.cli.exits import fail
from backbone.registry import SchemaRegistry
from backbone.serde import AvroSerde
from backbone.settings import Settings, load_settings
from backbone.stack import Endpoints, LocalStack


def endpoints(settings: Settings | None = None) -> Endpoints:
    """KAFKA_BOOTSTRAP_SERVERS / SCHEMA_REGISTRY_URL, else the running local stack's."""
    settings = settings or load_settings()
    bootstrap, registry = settings.kafka_bootstrap_servers, settings.schema_registry_url
    if bootstrap and registry:
        return Endpoints(bootstrap, registry)
    local = LocalStack(settings).running_endpoints()
    if local is None:
        fail(
            "no Kafka to talk to: set KAFKA_BOOTSTRAP_SERVERS and SCHEMA_REGISTRY_URL, or start "
            'the local stack with: eval "$(backbone stack up)"'
        )
    return Endpoints(bootstrap or local.bootstrap_servers, registry or local.registry_url)


def serde(settings: Settings | None = None) -> AvroSerde:
    settings = settings or load_settings()
    registry = SchemaRegistry(endpoints(settings).registry_url)
    return AvroSerde(registry, max_message_bytes=settings.max_message_bytes)
