"""Every configuration knob of backbone, in one pydantic-settings model.

Values come from environment variables (``BACKBONE_*``; the two connection URLs also under
their ecosystem names ``KAFKA_BOOTSTRAP_SERVERS`` and ``SCHEMA_REGISTRY_URL``) or from an
optional env-style file named by ``BACKBONE_CONFIG`` (default ``backbone.env`` in the working
directory, ignored when absent). Secrets are ``SecretStr`` so they never print.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def _config_file() -> str:
    return os.environ.get("BACKBONE_CONFIG", "backbone.env")


class Settings(BaseSettings):
    """The one settings object; build it with :func:`load_settings`."""

    model_config = SettingsConfigDict(env_prefix="BACKBONE_", extra="ignore")

    kafka_bootstrap_servers: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "KAFKA_BOOTSTRAP_SERVERS", "BACKBONE_KAFKA_BOOTSTRAP_SERVERS"
        ),
        description="Kafka bootstrap servers, host:port[,host:port]. Unset: the local stack's.",
    )
    schema_registry_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("SCHEMA_REGISTRY_URL", "BACKBONE_SCHEMA_REGISTRY_URL"),
        description="Confluent-compatible registry URL (Apicurio: .../apis/ccompat/v7).",
    )

    # The local stack (backbone stack up | down | status).
    state_dir: Path = Field(default=Path(".backbone"), description="Local stack data and logs.")
    lib_dir: Path | None = Field(
        default=None, description="Downloaded Kafka jars and registry; default <state_dir>/lib."
    )
    kafka_port: int = Field(default=9092, description="Local broker's client port.")
    controller_port: int = Field(default=9093, description="Local KRaft controller port.")
    registry_port: int = Field(default=8081, description="Local registry's HTTP port.")
    registry_management_port: int = Field(
        default=9001, description="Local registry's health/management port."
    )
    java_home: Path | None = Field(
        default=None, description="JDK to run the stack with (Apicurio 3.3 needs Java 21+)."
    )
    stack_start_timeout_s: float = Field(default=120.0, description="How long `up` waits.")
    stack_stop_timeout_s: float = Field(default=30.0, description="SIGTERM grace before SIGKILL.")

    # Serde and publishing.
    max_message_bytes: int = Field(
        default=1_000_000, description="Largest encoded event accepted for produce or decode."
    )
    publish_flush_timeout_s: float = Field(
        default=30.0, description="Upper bound on waiting for outstanding deliveries at shutdown."
    )

    webhook_secret: SecretStr | None = Field(
        default=None, description='Standard Webhooks secret, "whsec_<base64 key>".'
    )

    @property
    def resolved_lib_dir(self) -> Path:
        return self.lib_dir if self.lib_dir is not None else self.state_dir / "lib"


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment and the optional config file, then ``overrides``."""
    path = _config_file()
    env_file = path if Path(path).is_file() else None
    return Settings(_env_file=env_file, **overrides)
