"""Fails fast, in one line, when a secured cluster refuses this process's credentials.

librdkafka treats a failed SASL login or TLS handshake like a broker that is down: it retries
forever and a command times out 30 seconds later with "Broker transport failure". Before a
command uses a secured cluster, :func:`check_access` connects once and turns an authentication
or TLS refusal into an :class:`AccessRefused` that names the listener, the principal, the cause
and the setting to fix. A cluster that does not answer at all is not its business: the command
reports that as it always has.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaError
from confluent_kafka.admin import AdminClient
from cryptography import x509

from backbone.clients import KafkaClients, redact

_CHECKED: set[tuple[str, tuple[tuple[str, str], ...]]] = set()


class AccessRefused(RuntimeError):
    """The cluster refused our credentials or our certificate; ``str()`` says which and why."""


def check_access(kafka: KafkaClients, timeout_s: float = 10.0) -> None:
    """Raise AccessRefused if the cluster refuses ``kafka``'s login; once per configuration."""
    key = (kafka.bootstrap_servers, tuple(sorted(kafka.security.items())))
    if kafka.protocol == "PLAINTEXT" or key in _CHECKED:
        return
    refused: list[KafkaError] = []

    def on_error(error: KafkaError) -> None:
        # a broker that rejects our certificate answers with a TLS alert, which librdkafka
        # reports as a transport failure
        alert = error.code() == KafkaError._TRANSPORT and "alert" in error.str().lower()
        if alert or error.code() in (KafkaError._AUTHENTICATION, KafkaError._SSL):
            refused.append(error)

    quiet = logging.getLogger("backbone.kafka.access")
    quiet.addHandler(logging.NullHandler())
    quiet.propagate = False
    config: dict[str, Any] = {**kafka.admin(), "error_cb": on_error, "logger": quiet,
                              # one attempt is the answer: do not back off and try again
                              "reconnect.backoff.ms": 1000, "reconnect.backoff.max.ms": 1000}
    admin = AdminClient(config)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            admin.list_topics(timeout=0.5)
        except Exception:  # not answering yet, or refused: error_cb says which
            admin.poll(0.1)
            if refused:
                raise AccessRefused(_explain(kafka, refused[0])) from None
            continue
        _CHECKED.add(key)
        return


def _explain(kafka: KafkaClients, error: KafkaError) -> str:
    where = f"Kafka at {kafka.bootstrap_servers} ({kafka.protocol})"
    detail = redact(error.str())
    if error.code() == KafkaError._AUTHENTICATION:
        user = kafka.security.get("sasl.username", "?")
        mechanism = kafka.security.get("sasl.mechanism", kafka.security.get("sasl.mechanisms"))
        return (f"{where} refused user {user!r} ({mechanism}): wrong user name or password; "
                "check BACKBONE_KAFKA_SASL_USERNAME and BACKBONE_KAFKA_SASL_PASSWORD[_FILE] "
                f"[{_first_line(detail)}]")
    if "certificate verify failed" in detail:
        return (f"{where}: we do not trust the broker's certificate; check "
                f"BACKBONE_KAFKA_SSL_CA_LOCATION [{_first_line(detail)}]")
    # The broker's alert rarely says why (Java answers "bad certificate" to all of these), so
    # look at what we sent.
    certificate = kafka.security.get("ssl.certificate.location")
    if certificate is None:
        cause = ("the listener requires a client certificate and we sent none: set "
                 "BACKBONE_KAFKA_SSL_CERTIFICATE_LOCATION and BACKBONE_KAFKA_SSL_KEY_LOCATION")
    else:
        cause = _certificate_problem(Path(certificate))
    return f"{where} refused our client certificate: {cause} [{_first_line(detail)}]"


def _certificate_problem(path: Path) -> str:
    try:
        certificate = x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError) as error:
        return f"{path} is not a readable PEM certificate ({error})"
    now = dt.datetime.now(dt.UTC)
    if certificate.not_valid_after_utc < now:
        return (f"{path} expired on {certificate.not_valid_after_utc:%Y-%m-%d %H:%M} UTC; "
                "renew it")
    if certificate.not_valid_before_utc > now:
        return f"{path} is not valid before {certificate.not_valid_before_utc:%Y-%m-%d} UTC"
    return (f"{path} ({certificate.subject.rfc4514_string()}, issued by "
            f"{certificate.issuer.rfc4514_string()}) is not signed by a CA the broker trusts")


def _first_line(text: str) -> str:
    return text.splitlines()[0][:300] if text else ""
