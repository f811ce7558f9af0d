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
from typing import Any, Literal

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

    # --- Client security (backbone/clients.py; every Kafka and registry client) ---
    kafka_config: Path | None = Field(
        default=None,
        description="client.properties-style file of librdkafka keys (as kcat -F takes), merged "
        "under the typed settings below; schema.registry.* / basic.auth.* keys go to the registry.",
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] | None = (
        Field(default=None, description="PLAINTEXT, SSL (TLS, mTLS with a client certificate), "
              "SASL_PLAINTEXT or SASL_SSL. Unset: the properties file's, else PLAINTEXT.")
    )
    kafka_sasl_mechanism: (
        Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN", "OAUTHBEARER"] | None
    ) = Field(default=None, description="SASL mechanism (SCRAM-SHA-512, SCRAM-SHA-256, PLAIN, "
              "OAUTHBEARER with OIDC client credentials).")
    kafka_sasl_username: str | None = Field(default=None, description="SASL user name.")
    kafka_sasl_password: SecretStr | None = Field(default=None, description="SASL password.")
    kafka_sasl_password_file: Path | None = Field(
        default=None, description="File holding the SASL password (a mounted Kubernetes secret)."
    )
    kafka_ssl_ca_location: Path | None = Field(
        default=None, description="PEM file of the CA(s) that signed the brokers' certificates."
    )
    kafka_ssl_certificate_location: Path | None = Field(
        default=None, description="PEM client certificate (mTLS)."
    )
    kafka_ssl_key_location: Path | None = Field(
        default=None, description="PEM private key of the client certificate (mTLS)."
    )
    kafka_ssl_key_password: SecretStr | None = Field(
        default=None, description="Password of an encrypted client key."
    )
    kafka_oauth_token_endpoint_url: str | None = Field(
        default=None, description="OAUTHBEARER: the OIDC token endpoint (client credentials)."
    )
    kafka_oauth_client_id: str | None = Field(default=None, description="OAUTHBEARER client id.")
    kafka_oauth_client_secret: SecretStr | None = Field(
        default=None, description="OAUTHBEARER client secret."
    )
    kafka_oauth_client_secret_file: Path | None = Field(
        default=None, description="File holding the OAUTHBEARER client secret."
    )
    kafka_oauth_scope: str | None = Field(default=None, description="OAUTHBEARER scope.")
    schema_registry_basic_auth_user_info: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO", "BACKBONE_REGISTRY_BASIC_AUTH_USER_INFO"
        ),
        description="Registry HTTP basic auth, <user>:<password> (Confluent's convention).",
    )
    registry_basic_auth_user_info_file: Path | None = Field(
        default=None, description="File holding <user>:<password> for the registry."
    )
    registry_bearer_token: SecretStr | None = Field(
        default=None, description="Registry bearer token (instead of basic auth)."
    )
    registry_bearer_token_file: Path | None = Field(
        default=None,
        description="File holding the registry bearer token (re-read when it changes).",
    )
    registry_ca_location: Path | None = Field(
        default=None, description="PEM CA file to verify the registry's TLS certificate."
    )
    registry_certificate_location: Path | None = Field(
        default=None, description="PEM client certificate for the registry (mTLS)."
    )
    registry_key_location: Path | None = Field(
        default=None, description="PEM private key of the registry client certificate."
    )
    # --- end client security ---

    # The local stack (backbone stack up | down | status).
    state_dir: Path = Field(default=Path(".backbone"), description="Local stack data and logs.")
    lib_dir: Path | None = Field(
        default=None, description="Downloaded Kafka jars and registry; default <state_dir>/lib."
    )
    kafka_port: int = Field(default=9092, description="Local broker's client port.")
    kafka_brokers: int = Field(
        default=1, ge=1,
        description="Kafka nodes `stack up` starts (`--brokers`); node i of a cluster uses the "
                    "client and controller ports + 2(i-1).")
    controller_port: int = Field(default=9093, description="Local KRaft controller port.")
    registry_port: int = Field(default=8081, description="Local registry's HTTP port.")
    registry_management_port: int = Field(
        default=9001, description="Local registry's health/management port."
    )
    secure_port_base: int = Field(
        default=9190,
        description="`stack up --secure`: first of its seven ports (SASL_SSL, mTLS, controller, "
        "registry HTTPS, registry management, Keycloak, Keycloak management); 0: free ports.",
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
        default=0.01,
        description="Once a processor has caught up with its inputs, it commits as soon as "
        "the open transaction is this old (a live stream's latency; each commit costs a few "
        "ms of broker round trips). At or above the commit interval: off.",
    )
    processor_commit_every: int = Field(
        default=0,
        description="Also commit after this many records (0: no limit); bounds the size of "
        "one transaction when records are large.",
    )
    processor_fetch_wait_ms: int = Field(
        default=10,
        description="Longest the broker holds a processor's fetch when it has no new record "
        "(librdkafka fetch.wait.max.ms, default 500). A re-keying processor reads its own "
        "repartition records, which become readable only when the first transaction commits; "
        "the broker answers a parked fetch at that commit anyway (measured: no difference), "
        "so this is a bound, at the price of a fetch request per wait while idle.",
    )
    processor_linger_ms: float = Field(
        default=5.0,
        description="How long a processor's producer waits to batch records before sending "
        "(librdkafka linger.ms); every commit waits for the last batch, so this adds to "
        "latency, and lower means more, smaller requests.",
    )
    processor_consumer_group_prefix: str = Field(
        default="backbone.", description="Consumer group of a processor: <prefix><name>."
    )
    processor_session_timeout_ms: int = Field(
        default=45_000,
        description="How long the consumer group waits for a silent processor instance "
        "(crashed, frozen) before its partitions go to the others (session.timeout.ms; the "
        "broker accepts 6000-1800000 by default). Lower: faster failover; too low: a stalled "
        "host is taken for dead and the group rebalances.",
    )
    processor_instance_id: str | None = Field(
        default=None,
        description="Static group membership (group.instance.id): a stable name for this "
        "processor instance, unique in its group (e.g. the pod name). Restarted under the same "
        "name it gets its partitions back at once, without a rebalance; unset: dynamic. A "
        "fenced static member is fatal in librdkafka: the process stops (seen after its "
        "session timed out while the group coordinator moved); run it under a supervisor.",
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
    # Each webhook source's own secret; a source without one falls back to the Standard
    # Webhooks secret above (generic senders). Several space-separated values during a rotation.
    webhook_secret_easypost: SecretStr | None = Field(
        default=None,
        description="EasyPost webhook secret (X-Hmac-Signature: hmac-sha256-hex=...); several "
        "space-separated while rotating.",
    )
    webhook_secret_aftership: SecretStr | None = Field(
        default=None,
        description="AfterShip webhook secret (aftership-hmac-sha256 header); several "
        "space-separated while rotating.",
    )
    webhook_secret_shippo: SecretStr | None = Field(
        default=None, description="Standard Webhooks secret (whsec_...) for /webhooks/shippo.",
    )
    webhook_secret_ups: SecretStr | None = Field(
        default=None, description="Standard Webhooks secret (whsec_...) for /webhooks/ups.",
    )
    webhook_secret_fedex: SecretStr | None = Field(
        default=None, description="Standard Webhooks secret (whsec_...) for /webhooks/fedex.",
    )
    webhook_secret_usps: SecretStr | None = Field(
        default=None, description="Standard Webhooks secret (whsec_...) for /webhooks/usps.",
    )
    webhook_shipengine_jwks_url: str = Field(
        default="", description="ShipEngine's published signing keys (JWKS), e.g. "
        "https://api.shipengine.com/jwks; set to accept /webhooks/shipengine.",
    )
    webhook_jwks_refresh_s: float = Field(
        default=60.0, description="Least time between two fetches of a JWKS (an unknown key id "
        "triggers one).",
    )
    # The tracking poller (connectors/carrier_tracking): each carrier's REST tracking API.
    # A carrier without credentials is not polled.
    tracking_ups_client_id: str = Field(default="", description="UPS OAuth client id.")
    tracking_ups_client_secret: SecretStr | None = Field(
        default=None, description="UPS OAuth client secret.")
    tracking_ups_base_url: str = Field(
        default="https://onlinetools.ups.com", description="UPS API base (CIE: "
        "https://wwwcie.ups.com)."
    )
    tracking_fedex_client_id: str = Field(default="", description="FedEx API key (OAuth client "
                                          "id).")
    tracking_fedex_client_secret: SecretStr | None = Field(
        default=None, description="FedEx secret key (OAuth client secret).")
    tracking_fedex_base_url: str = Field(
        default="https://apis.fedex.com", description="FedEx API base (sandbox: "
        "https://apis-sandbox.fedex.com)."
    )
    tracking_usps_client_id: str = Field(default="", description="USPS OAuth consumer key.")
    tracking_usps_client_secret: SecretStr | None = Field(
        default=None, description="USPS OAuth consumer secret.")
    tracking_usps_base_url: str = Field(
        default="https://apis.usps.com", description="USPS API base (testing: "
        "https://apis-tem.usps.com)."
    )
    tracking_dhl_api_key: SecretStr | None = Field(
        default=None, description="DHL Shipment Tracking - Unified API key (DHL-API-Key).")
    tracking_dhl_base_url: str = Field(
        default="https://api-eu.dhl.com", description="DHL API base."
    )
    tracking_interval_s: float = Field(
        default=14_400.0, description="Seconds between polls of a shipment in transit.")
    tracking_near_delivery_interval_s: float = Field(
        default=1_800.0, description="Seconds between polls once out for delivery (or at a "
        "pickup point, or after a failed attempt).")
    tracking_pre_transit_interval_s: float = Field(
        default=21_600.0, description="Seconds between polls before the carrier's first scan "
        "(also after a not-found answer).")
    tracking_max_age_days: float = Field(
        default=30.0, description="Stop polling a shipment this long after it was first seen.")
    tracking_min_request_gap_s: float = Field(
        default=0.2, description="Least time between two requests to one carrier (spreads the "
        "load).")
    tracking_daily_quota: dict[str, int] = Field(
        default_factory=dict, description='Requests per UTC day per carrier, JSON: {"ups": '
        '25000}; unlisted carriers: no quota.')
    tracking_backoff_max_s: float = Field(
        default=3_600.0, description="Longest back-off of a shipment after 5xx or network "
        "errors (doubles from 30 s).")
    tracking_request_timeout_s: float = Field(
        default=15.0, description="Timeout of one tracking or token request.")
    # --- end carrier tracking intake ---

    # --- Operator console (processors/console, backbone console) ---
    console_users: Path | None = Field(
        default=None,
        description="File of operator logins, one <name>:<hash> line each (hash from "
        "`backbone console --hash-password`: scrypt or pbkdf2_sha256).",
    )
    console_password: SecretStr | None = Field(
        default=None,
        description='Password of the one operator "admin" when no users file is set (a hash '
        "line's hash part, or the password itself).",
    )
    console_secret_key: SecretStr | None = Field(
        default=None,
        description="Key signing console sessions; unset: a random key per start (everyone "
        "logs in again after a restart).",
    )
    console_trusted_header: str | None = Field(
        default=None,
        description="Header a reverse proxy sets to the authenticated operator's name (e.g. "
        "X-Forwarded-User); trusted only from BACKBONE_CONSOLE_TRUSTED_PROXIES.",
    )
    console_trusted_proxies: str = Field(
        default="127.0.0.1,::1",
        description="Comma-separated client addresses whose BACKBONE_CONSOLE_TRUSTED_HEADER "
        "is believed.",
    )
    console_session_hours: float = Field(
        default=8.0, description="How long a console login lasts."
    )
    # --- end operator console ---
    # --- Analysts' tables (sinks/iceberg, backbone sink iceberg, backbone query) ---
    iceberg_catalog: str | None = Field(
        default=None,
        description="Iceberg catalog: sqlite:///file.db or postgresql://... (SQL catalog), "
        "http(s)://... (REST catalog). Unset: SQLite in <state_dir>/iceberg/catalog.db.",
    )
    iceberg_warehouse: str | None = Field(
        default=None,
        description="Where data files go: a folder, or s3://bucket/prefix (credentials from "
        "the AWS environment or the catalog properties). Unset: <state_dir>/iceberg/warehouse.",
    )
    iceberg_catalog_properties: dict[str, str] = Field(
        default_factory=dict,
        description='More pyiceberg catalog properties, JSON: {"s3.endpoint": '
        '"http://minio:9000", "s3.region": "eu-west-1"}.',
    )
    iceberg_catalog_token: SecretStr | None = Field(
        default=None, description="Bearer token for a REST catalog."
    )
    iceberg_catalog_credential: SecretStr | None = Field(
        default=None, description="OAuth2 client credentials <id>:<secret> for a REST catalog."
    )
    iceberg_namespace: str = Field(default="backbone", description="Namespace of the tables.")
    iceberg_commit_interval_s: float = Field(
        default=10.0,
        description="Seconds between sink commits (one Iceberg snapshot per table with rows); "
        "fewer, larger files when higher.",
    )
    iceberg_max_batch_rows: int = Field(
        default=100_000, description="Rows buffered before the sink commits early (memory bound)."
    )
    iceberg_topic_prefix: str | None = Field(
        default=None,
        description="Sink <prefix>.<catalog name> topics instead of the catalog's own (tests, "
        "staging); the dead-letter topic is prefixed too.",
    )
    iceberg_pause_before_commit: Path | None = Field(
        default=None,
        description="Test hook: after writing a commit's files, create this file and wait "
        "(a crash test SIGKILLs the sink there). Never set in production.",
    )
    # --- end analysts' tables ---

    @property
    def resolved_lib_dir(self) -> Path:
        return self.lib_dir if self.lib_dir is not None else self.state_dir / "lib"


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment and the optional config file, then ``overrides``."""
    path = _config_file()
    env_file = path if Path(path).is_file() else None
    return Settings(_env_file=env_file, **overrides)
