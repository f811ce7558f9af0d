"""Every configuration knob of backbone, in one pydantic-settings model.

Values come from environment variables (``BACKBONE_*``; the two connection URLs also under
their ecosystem names ``KAFKA_BOOTSTRAP_SERVERS`` and ``SCHEMA_REGISTRY_URL``) or from an
optional env-style file named by ``BACKBONE_CONFIG`` (default ``backbone.env`` in the working
directory, ignored when absent). Secrets are ``SecretStr`` so they never print.
"""

from __future__ import annotations

import os
from decimal import Decimal
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

    log_level: str = Field(default="INFO", description="Level of backbone's logs on stderr.")
    log_format: str = Field(
        default="json", description="json (one object per line, with trace ids) or text."
    )

    webhook_secret: SecretStr | None = Field(
        default=None, description='Standard Webhooks secret, "whsec_<base64 key>".'
    )

    # --- Dead letters, retries and replay (processors/dead_letters.py, retry.py, dlq/) ---
    retry_max_attempts: int = Field(
        default=5, description="Attempts on a transient failure (first included) before DLQ."
    )
    retry_initial_delay_ms: int = Field(
        default=1_000, description="Wait before the first retry; doubles each attempt."
    )
    retry_max_delay_ms: int = Field(default=300_000, description="Longest wait between retries.")
    dlq_replay_max: int = Field(
        default=3,
        description="Loop guard: a dead letter already replayed this many times is parked.",
    )
    dlq_replay_rate: float = Field(
        default=0.0, description="Default replay rate in records per second (0: unlimited)."
    )
    operator: str | None = Field(
        default=None, description="Who runs `backbone dlq` (audit); default the OS user."
    )
    # --- end dead letters ---

    # --- Stream processors (processors/engine.py, backbone process NAME) ---
    processor_state_dir: Path | None = Field(
        default=None, description="RocksDB state of the processors; default <state_dir>/processors."
    )
    processor_commit_interval_s: float = Field(
        default=1.0,
        description="Longest an exactly-once transaction stays open while a processor works "
        "off a backlog (outputs are visible to read_committed readers only once it commits); "
        "lower means fresher output under load, higher means more throughput.",
    )
    processor_idle_commit_s: float = Field(
        default=0.05,
        description="Once a processor has caught up with its inputs, it commits as soon as "
        "the open transaction is this old (a live stream's latency; each commit costs a few "
        "ms of broker round trips). At or above the commit interval: off.",
    )
    processor_commit_every: int = Field(
        default=0,
        description="Also commit after this many records (0: no limit); bounds the size of "
        "one transaction when records are large.",
    )
    processor_consumer_group_prefix: str = Field(
        default="backbone.", description="Consumer group of a processor: <prefix><name>."
    )
    metrics_port: int = Field(
        default=0, description="Port a processor or connector serves /metrics on (0: none)."
    )
    order_ack_sla_hours: float = Field(
        default=48.0,
        description="A PO line not acknowledged this long after the order (event time) is "
        "flagged ack_overdue.",
    )
    stock_tolerance: Decimal = Field(
        default=Decimal("0"),
        description="ERP vs WMS on-hand difference (base units) tolerated before a BREAK.",
    )
    stock_sites: dict[str, str] = Field(
        default_factory=dict,
        description='Ship-to party id (e.g. GLN) -> our site id, JSON: '
        '{"0078742035260": "DC-ATL-01"}.',
    )
    processor_topic_prefix: str | None = Field(
        default=None,
        description="Run processors on <prefix>.<catalog name> topics instead of the catalog's "
        "own (tests, staging side by side with production).",
    )
    # --- end stream processors ---

    # --- Carrier tracking intake (processors/shipment_status, connectors/carrier_webhooks) ---
    status_mappings: Path | None = Field(
        default=None,
        description="YAML file of operator status-mapping overrides: "
        "<SOURCE>: {<raw code>: <MILESTONE> | {milestone: <MILESTONE>, exception: true}}.",
    )
    webhook_max_body_bytes: int = Field(
        default=256_000, description="Largest carrier webhook body accepted (413 above)."
    )
    webhook_rate_per_s: float = Field(
        default=500.0, description="Webhook requests per second accepted before 429 (0: no limit)."
    )
    webhook_tolerance_s: int = Field(
        default=300, description="Largest age or clock skew of a webhook-timestamp accepted."
    )
    webhook_dedup_size: int = Field(
        default=100_000, description="Webhook ids remembered (in memory) to drop replays."
    )
    webhook_delivery_timeout_ms: int = Field(
        default=5_000, description="Kafka delivery timeout of a webhook (503 beyond it)."
    )
    # --- end carrier tracking intake ---

    @property
    def resolved_lib_dir(self) -> Path:
        return self.lib_dir if self.lib_dir is not None else self.state_dir / "lib"


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment and the optional config file, then ``overrides``."""
    path = _config_file()
    env_file = path if Path(path).is_file() else None
    return Settings(_env_file=env_file, **overrides)
