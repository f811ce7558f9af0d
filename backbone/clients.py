"""One place for every client's configuration: where Kafka and the registry are, and how to log in.

Every Kafka client of backbone (publisher, connectors, offset store, processors, dlq commands,
webhook service, admin calls, tail/publish, demo, bench) takes its librdkafka settings from a
:class:`KafkaClients`, and every registry client its credentials from a :class:`RegistryAuth`,
both built here from :class:`~backbone.settings.Settings`. Security therefore applies to all of
them or to none (tests/unit/test_clients.py walks the code and fails on a config built elsewhere).

Precedence, lowest first: backbone's defaults, a ``client.properties`` file
(``BACKBONE_KAFKA_CONFIG``, librdkafka keys as ``kcat -F`` reads them), the typed settings
(``BACKBONE_KAFKA_*``), and last what the calling code overrides for its own reason.

Secrets (passwords, client secrets, key passwords, registry credentials) stay inside the
process: ``repr`` of these objects shows ``***`` instead, and :func:`redact` hides every
configured secret value wherever text leaves the process (dead letters, logs, JSON output).
"""

from __future__ import annotations

import logging
import re
import ssl
from collections.abc import Generator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import httpx

from backbone import durability
from backbone.settings import Settings

if TYPE_CHECKING:
    from backbone.registry import SchemaRegistry

#: librdkafka keys whose values are secrets.
SECRET_KEYS = frozenset({
    "sasl.password", "ssl.key.password", "ssl.keystore.password", "ssl.key.pem",
    "sasl.oauthbearer.client.secret", "sasl.oauthbearer.config", "sasl.jaas.config",
})

#: What every producer does unless the caller has a reason (named at the call) to differ.
PRODUCER_DEFAULTS: Mapping[str, Any] = MappingProxyType({
    # No duplicates or reordering on internal retries; requires acks=all. Not a promise
    # across leader changes (librdkafka#4953): consumers drop repeats by event_id.
    "enable.idempotence": True,
    "acks": "all",
    # Batch a little: canonical events arrive in bursts per source document.
    "linger.ms": 5,
    "compression.type": "lz4",
})

#: What every consumer does unless the caller has a reason to differ.
CONSUMER_DEFAULTS: Mapping[str, Any] = MappingProxyType({
    # Offsets are committed after processing, never before.
    "enable.auto.commit": False,
    "auto.offset.reset": "earliest",
    # Never read what an aborted transaction wrote.
    "isolation.level": "read_committed",
})

# An acknowledged event must survive a broker: these values would weaken that.

# Keys of Kafka's Java client that librdkafka does not know, with what to use instead.
_JAVA_ONLY = {
    "ssl.truststore.location": "ssl.ca.location (a PEM file of the CA)",
    "ssl.truststore.password": "ssl.ca.location (a PEM file needs no password)",
    "ssl.truststore.type": "ssl.ca.location (PEM)",
    "ssl.keystore.type": "ssl.certificate.location + ssl.key.location (PEM) or "
                         "ssl.keystore.location (PKCS#12)",
}

# Registry keys of Confluent's client.properties convention, in the same file as librdkafka's.
_REGISTRY_PREFIXES = ("schema.registry.", "basic.auth.", "bearer.auth.")


class ClientConfigError(ValueError):
    """The client configuration cannot work; the message names the setting and the fix."""


class DurabilityError(ClientConfigError, durability.WeakDurabilityError):
    """A producer setting would let an acknowledged event be lost; backbone refuses it."""


# --- Kafka -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KafkaClients:
    """Where the cluster is and how every client authenticates; renders librdkafka dicts."""

    bootstrap_servers: str
    security: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def of(cls, value: KafkaClients | str) -> KafkaClients:
        """``value`` itself, or a PLAINTEXT cluster at the bootstrap servers ``value``."""
        return value if isinstance(value, KafkaClients) else cls(value)

    def common(self) -> dict[str, Any]:
        """What every client shares: the bootstrap servers and the security settings."""
        return {"bootstrap.servers": self.bootstrap_servers, **self.security}

    def producer(self, **overrides: Any) -> dict[str, Any]:
        """A producer: idempotent, ``acks=all``; refuses overrides that would weaken that.

        ``overrides`` are librdkafka keys (``**{"linger.ms": 50}``), each for a reason the
        caller names.
        """
        config = {**self.common(), **PRODUCER_DEFAULTS, **overrides}
        refuse_weakened_durability(config)
        return config

    def consumer(self, group_id: str, **overrides: Any) -> dict[str, Any]:
        """A consumer in ``group_id``: read_committed, commits after processing."""
        return {**self.common(), "group.id": group_id, **CONSUMER_DEFAULTS, **overrides}

    def admin(self) -> dict[str, Any]:
        # librdkafka reports each refused connection; callers turn failures into messages
        return {**self.common(), "logger": quiet_logger()}

    @property
    def protocol(self) -> str:
        return self.security.get("security.protocol", "PLAINTEXT").upper()

    def __repr__(self) -> str:
        shown = {k: ("***" if k in SECRET_KEYS else v) for k, v in self.security.items()}
        return f"KafkaClients(bootstrap_servers={self.bootstrap_servers!r}, security={shown!r})"

    __str__ = __repr__


def refuse_weakened_durability(config: Mapping[str, Any]) -> None:
    """Raise DurabilityError if ``config`` would let a producer lose an acknowledged event
    (the rule itself: backbone.durability)."""
    try:
        durability.refuse_weakened_durability(
            config, where="the Kafka client configuration (BACKBONE_KAFKA_CONFIG or an override)")
    except durability.WeakDurabilityError as error:
        raise DurabilityError(str(error)) from None


def kafka_clients(settings: Settings, bootstrap_servers: str | None = None) -> KafkaClients:
    """The clients of ``settings`` (bootstrap servers from the argument when given)."""
    kafka_file, _ = read_client_properties(settings.kafka_config)
    security = {**kafka_file, **_typed_security(settings)}
    from_file = security.pop("bootstrap.servers", None)
    bootstrap = bootstrap_servers or settings.kafka_bootstrap_servers or from_file
    if not bootstrap:
        raise ClientConfigError("no Kafka bootstrap servers: set KAFKA_BOOTSTRAP_SERVERS")
    _check_security(security)
    remember_secrets(security[k] for k in SECRET_KEYS if k in security)
    refuse_weakened_durability(security)
    return KafkaClients(bootstrap, MappingProxyType(security))


def _typed_security(settings: Settings) -> dict[str, str]:
    typed: dict[str, str | None] = {
        "security.protocol": settings.kafka_security_protocol,
        "sasl.mechanism": settings.kafka_sasl_mechanism,
        "sasl.username": settings.kafka_sasl_username,
        "sasl.password": _secret(settings.kafka_sasl_password, settings.kafka_sasl_password_file,
                                 "BACKBONE_KAFKA_SASL_PASSWORD_FILE"),
        "ssl.ca.location": _path(settings.kafka_ssl_ca_location),
        "ssl.certificate.location": _path(settings.kafka_ssl_certificate_location),
        "ssl.key.location": _path(settings.kafka_ssl_key_location),
        "ssl.key.password": _secret(settings.kafka_ssl_key_password, None, ""),
    }
    if settings.kafka_sasl_mechanism == "OAUTHBEARER" or settings.kafka_oauth_token_endpoint_url:
        typed.update({
            # librdkafka fetches and refreshes the token itself (OIDC client credentials)
            "sasl.oauthbearer.method": "oidc",
            "sasl.oauthbearer.token.endpoint.url": settings.kafka_oauth_token_endpoint_url,
            "sasl.oauthbearer.client.id": settings.kafka_oauth_client_id,
            "sasl.oauthbearer.client.secret": _secret(
                settings.kafka_oauth_client_secret, settings.kafka_oauth_client_secret_file,
                "BACKBONE_KAFKA_OAUTH_CLIENT_SECRET_FILE"),
            "sasl.oauthbearer.scope": settings.kafka_oauth_scope,
        })
    return {key: value for key, value in typed.items() if value is not None}


def _check_security(security: Mapping[str, str]) -> None:
    for key, instead in _JAVA_ONLY.items():
        if key in security:
            raise ClientConfigError(
                f"{key} is a setting of Kafka's Java client that librdkafka does not read; "
                f"use {instead}")
    protocol = security.get("security.protocol", "PLAINTEXT").upper()
    if protocol.startswith("SASL") and "sasl.mechanism" not in security \
            and "sasl.mechanisms" not in security:
        raise ClientConfigError(
            f"security.protocol={protocol} needs a SASL mechanism: set "
            "BACKBONE_KAFKA_SASL_MECHANISM (SCRAM-SHA-512, SCRAM-SHA-256, PLAIN, OAUTHBEARER)")
    mechanism = security.get("sasl.mechanism", security.get("sasl.mechanisms", "")).upper()
    if mechanism in {"SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"} and protocol.startswith("SASL"):
        missing = [name for name, key in (("BACKBONE_KAFKA_SASL_USERNAME", "sasl.username"),
                                          ("BACKBONE_KAFKA_SASL_PASSWORD[_FILE]", "sasl.password"))
                   if not security.get(key)]
        if missing:
            raise ClientConfigError(f"SASL {mechanism} needs {' and '.join(missing)}")
    for key in ("ssl.ca.location", "ssl.certificate.location", "ssl.key.location"):
        location = security.get(key)
        if location and location != "probe" and not Path(location).is_file():  # probe: system CAs
            raise ClientConfigError(f"{key}: no file at {location}")
    if ("ssl.certificate.location" in security) != ("ssl.key.location" in security):
        raise ClientConfigError("a client certificate needs its key and a key its certificate: "
                                "set both BACKBONE_KAFKA_SSL_CERTIFICATE_LOCATION and "
                                "BACKBONE_KAFKA_SSL_KEY_LOCATION")


def _secret(value: Any, path: Path | None, name: str) -> str | None:
    if path is not None:
        try:
            return path.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as error:
            raise ClientConfigError(f"{name}: cannot read {path}: {error.strerror}") from None
    return value.get_secret_value() if value is not None else None


def _path(value: Path | None) -> str | None:
    return str(value) if value is not None else None


# --- the properties file ------------------------------------------------------------------------

_JAAS_FIELD = re.compile(r'(\w+)\s*=\s*"((?:[^"\\]|\\.)*)"')


def read_client_properties(path: Path | None) -> tuple[dict[str, str], dict[str, str]]:
    """(librdkafka keys, registry keys) of a ``client.properties`` file; both empty if None.

    ``key=value`` or ``key: value`` lines, ``#`` and ``!`` comments, as Java's Properties and
    kcat's ``-F`` read them. A Java ``sasl.jaas.config`` with a username and password becomes
    librdkafka's ``sasl.username`` / ``sasl.password``.
    """
    if path is None:
        return {}, {}
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ClientConfigError(
            f"BACKBONE_KAFKA_CONFIG: cannot read {path}: {error.strerror}") from None
    kafka: dict[str, str] = {}
    registry: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line[0] in "#!":
            continue
        match = re.match(r"([^=:\s]+)\s*[=:]\s*(.*)$", line)
        if match is None:
            raise ClientConfigError(f"{path}:{number}: not a key=value line")
        key, value = match.group(1), match.group(2).strip()
        target = registry if key.startswith(_REGISTRY_PREFIXES) else kafka
        target[key] = value
    jaas = kafka.pop("sasl.jaas.config", None)
    if jaas is not None:
        fields = dict(_JAAS_FIELD.findall(jaas))
        if "username" in fields:
            kafka.setdefault("sasl.username", fields["username"])
        if "password" in fields:
            kafka.setdefault("sasl.password", fields["password"])
    return kafka, registry


# --- the registry ------------------------------------------------------------------------------


class _BearerFromFile(httpx.Auth):
    """Bearer auth whose token is re-read when its file changes (a rotated, mounted token)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._mtime = -1.0
        self._token = ""

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        mtime = self._path.stat().st_mtime
        if mtime != self._mtime:
            self._token = self._path.read_text(encoding="utf-8").strip()
            self._mtime = mtime
            remember_secrets([self._token])
        request.headers["Authorization"] = f"Bearer {self._token}"
        yield request


@dataclass(frozen=True, repr=False)
class RegistryAuth:
    """How the registry client authenticates and verifies TLS; ``httpx_options`` renders it."""

    basic_user_info: str | None = None
    bearer_token: str | None = None
    bearer_token_file: Path | None = None
    ca_location: str | None = None
    certificate_location: str | None = None
    key_location: str | None = None

    def httpx_options(self) -> dict[str, Any]:
        """Keyword arguments for ``httpx.Client``: auth, verify, cert."""
        options: dict[str, Any] = {}
        if self.basic_user_info is not None:
            user, _, password = self.basic_user_info.partition(":")
            options["auth"] = httpx.BasicAuth(user, password)
        elif self.bearer_token_file is not None:
            options["auth"] = _BearerFromFile(self.bearer_token_file)
        elif self.bearer_token is not None:
            options["headers"] = {"Authorization": f"Bearer {self.bearer_token}"}
        if self.ca_location is not None:
            # an SSLContext: httpx deprecated verify=<path>
            options["verify"] = ssl.create_default_context(cafile=self.ca_location)
        if self.certificate_location is not None:
            options["cert"] = (self.certificate_location, self.key_location)
        return options

    @property
    def user(self) -> str | None:
        if self.basic_user_info is None:
            return None
        return self.basic_user_info.partition(":")[0]

    def __repr__(self) -> str:
        how = ("basic " + (self.user or "")) if self.basic_user_info else \
            "bearer" if (self.bearer_token or self.bearer_token_file) else "none"
        return f"RegistryAuth({how}, ca={self.ca_location!r}, cert={self.certificate_location!r})"


def registry_auth(settings: Settings) -> RegistryAuth:
    """The registry credentials of ``settings``, the properties file's under the typed ones."""
    _, from_file = read_client_properties(settings.kafka_config)
    user_info = _secret(settings.schema_registry_basic_auth_user_info,
                        settings.registry_basic_auth_user_info_file,
                        "BACKBONE_REGISTRY_BASIC_AUTH_USER_INFO_FILE") \
        or from_file.get("basic.auth.user.info") \
        or from_file.get("schema.registry.basic.auth.user.info")
    if user_info is not None and ":" not in user_info:
        raise ClientConfigError("SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO must be <user>:<password>")
    token = _secret(settings.registry_bearer_token, None, "") \
        or from_file.get("bearer.auth.token")
    remember_secrets(value for value in (user_info, token) if value)
    if user_info:
        remember_secrets([user_info.partition(":")[2]])
    ca = _path(settings.registry_ca_location) or from_file.get("schema.registry.ssl.ca.location")
    cert = _path(settings.registry_certificate_location) \
        or from_file.get("schema.registry.ssl.certificate.location")
    key = _path(settings.registry_key_location) \
        or from_file.get("schema.registry.ssl.key.location")
    for name, location in (("BACKBONE_REGISTRY_CA_LOCATION", ca),
                           ("BACKBONE_REGISTRY_CERTIFICATE_LOCATION", cert),
                           ("BACKBONE_REGISTRY_KEY_LOCATION", key)):
        if location and not Path(location).is_file():
            raise ClientConfigError(f"{name}: no file at {location}")
    return RegistryAuth(
        basic_user_info=user_info,
        bearer_token=token if not user_info else None,
        bearer_token_file=settings.registry_bearer_token_file if not user_info else None,
        ca_location=ca, certificate_location=cert, key_location=key,
    )


def registry_url(settings: Settings) -> str | None:
    """SCHEMA_REGISTRY_URL, else the properties file's ``schema.registry.url``."""
    if settings.schema_registry_url:
        return settings.schema_registry_url
    _, from_file = read_client_properties(settings.kafka_config)
    return from_file.get("schema.registry.url")


# --- where the clients go ----------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class Endpoints:
    """Where clients reach Kafka and the registry, and how they authenticate to each."""

    bootstrap_servers: str
    registry_url: str
    kafka_security: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    registry_auth: RegistryAuth = field(default_factory=RegistryAuth)

    @property
    def kafka(self) -> KafkaClients:
        return KafkaClients(self.bootstrap_servers, self.kafka_security)

    def registry(self, **options: Any) -> SchemaRegistry:
        """A registry client with these endpoints' credentials (close it, or use ``with``)."""
        from backbone.registry import SchemaRegistry

        return SchemaRegistry(self.registry_url, auth=self.registry_auth, **options)

    def env_lines(self) -> str:
        """The two variables as ``export`` lines (child processes such as kcat see them)."""
        return (
            f"export KAFKA_BOOTSTRAP_SERVERS={self.bootstrap_servers}\n"
            f"export SCHEMA_REGISTRY_URL={self.registry_url}\n"
        )

    def __repr__(self) -> str:
        return (f"Endpoints({self.bootstrap_servers!r}, {self.registry_url!r}, "
                f"{self.kafka.protocol}, {self.registry_auth!r})")


def endpoints_for(settings: Settings, bootstrap_servers: str, registry_url: str) -> Endpoints:
    """``Endpoints`` at these addresses with the security of ``settings``."""
    kafka = kafka_clients(settings, bootstrap_servers)
    return Endpoints(bootstrap_servers, registry_url, kafka.security, registry_auth(settings))


# --- secrets never leave the process ---------------------------------------------------------

# Process-wide on purpose: a secret configured anywhere in the process must be hidden from
# every message the process writes, whichever object wrote it.
_KNOWN_SECRETS: set[str] = set()


def remember_secrets(values: Any) -> None:
    """Add configured secret values to those :func:`redact` hides (the process's own secrets)."""
    for value in values:
        if isinstance(value, str) and len(value) >= 4:
            _KNOWN_SECRETS.add(value)


def redact(text: str) -> str:
    """``text`` with every secret value this process was configured with replaced by ``***``."""
    for secret in sorted(_KNOWN_SECRETS, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, "***")
    return text


def quiet_logger() -> logging.Logger:
    """librdkafka's logger: silent; failures reach users as messages from our callers."""
    logger = logging.getLogger("backbone.kafka")
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())
        logger.propagate = False
    return logger
