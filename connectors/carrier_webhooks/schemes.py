"""How each webhook source proves a body is from it: one signature scheme and secret per source.

- easypost: HMAC-SHA256 of the body, hex, ``X-Hmac-Signature: hmac-sha256-hex=<hex>``;
  secret ``webhook_secret_easypost`` (without it: Standard Webhooks, below);
- aftership: HMAC-SHA256 of the body, base64, ``aftership-hmac-sha256``; secret
  ``webhook_secret_aftership``;
- shipengine: RSA-SHA256 over ``<timestamp>.<body>`` (headers
  ``x-shipengine-rsa-sha256-key-id``, ``-signature``, ``x-shipengine-timestamp``), checked with
  the provider's published keys (``webhook_shipengine_jwks_url``);
- shippo, ups, fedex, usps: Standard Webhooks (``webhook-id``, ``webhook-timestamp``,
  ``webhook-signature``) with ``webhook_secret_<source>``, else ``webhook_secret``.

A source whose scheme has no secret is not served (404 naming the setting). During a secret
rotation an HMAC source's setting holds the old and the new secret, space-separated: a body
signed with either is accepted. Bodies without a sender id (every scheme but Standard
Webhooks) are de-duplicated by the SHA-256 of the body: a provider's retry resends the same
bytes. Secrets never appear in a message, a log line or a repr.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import threading
import time
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey, RSAPublicNumbers
from pydantic import SecretStr

from backbone.settings import Settings
from connectors.carrier_webhooks.signatures import (
    Refusal,
    SecretError,
    SignatureError,
    SignedRequest,
    WebhookSecret,
    verify,
)

log = logging.getLogger(__name__)

EASYPOST_HEADER = "x-hmac-signature"
EASYPOST_PREFIX = "hmac-sha256-hex="
AFTERSHIP_HEADER = "aftership-hmac-sha256"
SHIPENGINE_KEY_ID = "x-shipengine-rsa-sha256-key-id"
SHIPENGINE_SIGNATURE = "x-shipengine-rsa-sha256-signature"
SHIPENGINE_TIMESTAMP = "x-shipengine-timestamp"
# A signature header longer than this is not one (bounds what a request makes us decode).
MAX_SIGNATURE_LENGTH = 2048
JWKS_MAX_BYTES = 256_000


class Scheme(Protocol):
    """Verifies one source's requests; raises SignatureError naming what is wrong."""

    @property
    def label(self) -> str: ...

    @property
    def blocking(self) -> bool:
        """True when verifying may wait on the network (the app verifies off its event loop)."""
        ...

    def verify(self, headers: Mapping[str, str], body: bytes, *, now: float) -> SignedRequest: ...


def body_id(body: bytes) -> str:
    """The de-duplication id of a body whose sender gives none."""
    return "sha256:" + hashlib.sha256(body).hexdigest()


@dataclass(frozen=True)
class StandardWebhooks:
    """Standard Webhooks (``webhook-signature: v1,<base64>``; signatures.py)."""

    secret: WebhookSecret
    tolerance_s: int = 300
    label: str = "standard-webhooks"
    blocking: bool = False

    def verify(self, headers: Mapping[str, str], body: bytes, *, now: float) -> SignedRequest:
        return verify(self.secret, headers, body, now=now, tolerance_s=self.tolerance_s)


@dataclass(frozen=True)
class BodyHmac:
    """HMAC-SHA256 of the raw body under a shared secret, in one header (EasyPost, AfterShip)."""

    provider: str
    header: str
    prefix: str
    encoding: str  # "hex" or "base64"
    keys: tuple[bytes, ...] = field(repr=False)
    label: str = "body-hmac"
    blocking: bool = False

    def verify(self, headers: Mapping[str, str], body: bytes, *, now: float) -> SignedRequest:
        value = (headers.get(self.header) or "").strip()
        if not value:
            raise SignatureError(Refusal.MISSING_HEADER,
                                 f"missing header {self.header}; {self.provider} signs every "
                                 "webhook with it (is this sender really "
                                 f"{self.provider}?)")
        if len(value) > MAX_SIGNATURE_LENGTH or not value.startswith(self.prefix):
            raise SignatureError(Refusal.MALFORMED_SIGNATURE,
                                 f"{self.header} is not '{self.prefix}<{self.encoding} "
                                 "HMAC-SHA256>'")
        given = self._decode(value[len(self.prefix):])
        # Every key is compared (no early exit), so timing tells nothing about which matched.
        matched = False
        for key in self.keys:
            matched |= hmac.compare_digest(hmac.digest(key, body, hashlib.sha256), given)
        if not matched:
            raise SignatureError(Refusal.NO_MATCH,
                                 f"{self.header} does not match the body under the configured "
                                 f"{self.provider} secret ({len(self.keys)} configured); check "
                                 "that the secret is the one the provider shows for this "
                                 "endpoint and that nothing re-encodes the body in transit")
        return SignedRequest(body_id(body), int(now))

    def _decode(self, text: str) -> bytes:
        try:
            if self.encoding == "hex":
                return bytes.fromhex(text)
            return base64.b64decode(text, validate=True)
        except (ValueError, binascii.Error):
            raise SignatureError(Refusal.MALFORMED_SIGNATURE,
                                 f"{self.header} is not valid {self.encoding}") from None


def easypost(secrets: str) -> BodyHmac:
    """EasyPost's scheme; the secret is NFKD-normalized as EasyPost's own client does."""
    keys = tuple(unicodedata.normalize("NFKD", s).encode() for s in secrets.split())
    return BodyHmac("EasyPost", EASYPOST_HEADER, EASYPOST_PREFIX, "hex", keys)


def aftership(secrets: str) -> BodyHmac:
    return BodyHmac("AfterShip", AFTERSHIP_HEADER, "", "base64",
                    tuple(s.encode() for s in secrets.split()))


Fetch = Callable[[str], bytes]


def fetch_over_http(url: str, timeout_s: float = 5.0) -> bytes:
    """The body at ``url`` (bounded); httpx errors propagate."""
    with httpx.Client(timeout=timeout_s, follow_redirects=False) as client:
        response = client.get(url, headers={"accept": "application/json"})
        response.raise_for_status()
        if len(response.content) > JWKS_MAX_BYTES:
            raise ValueError(f"JWKS at {url} is over {JWKS_MAX_BYTES} bytes")
        return response.content


class PublishedKeys:
    """A provider's RSA signing keys from its JWKS URL, by key id, cached.

    An unknown key id (the provider rotated) fetches the set again, at most once per
    ``refresh_s`` so that requests naming made-up ids cannot make us hammer the provider.
    """

    def __init__(self, url: str, *, refresh_s: float = 60.0, fetch: Fetch = fetch_over_http,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.url = url
        self.refresh_s = refresh_s
        self._fetch = fetch
        self._clock = clock
        self._keys: dict[str, RSAPublicKey] = {}
        self._fetched = -float("inf")
        self._lock = threading.Lock()

    def key(self, key_id: str) -> RSAPublicKey | None:
        with self._lock:
            if key_id not in self._keys and self._clock() - self._fetched >= self.refresh_s:
                self._fetched = self._clock()
                self._keys = self._load() or self._keys
            return self._keys.get(key_id)

    def _load(self) -> dict[str, RSAPublicKey] | None:
        try:
            document = json.loads(self._fetch(self.url))
        except (httpx.HTTPError, ValueError, RecursionError) as error:
            log.warning("cannot read the JWKS at %s: %s", self.url, error)
            return None
        keys: dict[str, RSAPublicKey] = {}
        entries = document.get("keys") if isinstance(document, dict) else None
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict) and entry.get("kty") == "RSA" and entry.get("kid"):
                try:
                    keys[str(entry["kid"])] = RSAPublicNumbers(
                        _b64url_int(entry["e"]), _b64url_int(entry["n"])).public_key()
                except (KeyError, ValueError, TypeError):
                    log.warning("JWKS at %s: key %r is not a usable RSA key", self.url,
                                entry.get("kid"))
        return keys


def _b64url_int(text: object) -> int:
    if not isinstance(text, str):
        raise ValueError("not a base64url string")
    return int.from_bytes(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)), "big")


@dataclass
class ShipEngineRsa:
    """ShipEngine's RSA-SHA256 signature over ``<x-shipengine-timestamp>.<body>``, checked with
    the key its JWKS publishes under ``x-shipengine-rsa-sha256-key-id``."""

    keys: PublishedKeys
    tolerance_s: int = 300
    label: str = "shipengine-rsa"
    blocking: bool = True

    def verify(self, headers: Mapping[str, str], body: bytes, *, now: float) -> SignedRequest:
        missing = [h for h in (SHIPENGINE_KEY_ID, SHIPENGINE_SIGNATURE, SHIPENGINE_TIMESTAMP)
                   if not headers.get(h)]
        if missing:
            raise SignatureError(Refusal.MISSING_HEADER,
                                 f"missing header {', '.join(missing)}; ShipEngine signs every "
                                 "webhook with its RSA key")
        stamp = headers[SHIPENGINE_TIMESTAMP].strip()
        sent = _instant(stamp)
        if abs(sent - now) > self.tolerance_s:
            raise SignatureError(
                Refusal.STALE_TIMESTAMP if sent < now else Refusal.FUTURE_TIMESTAMP,
                f"{SHIPENGINE_TIMESTAMP} {stamp[:40]!r} is {abs(now - sent):.0f}s from our "
                f"clock, over the {self.tolerance_s}s window; a replay, or clocks apart (NTP)")
        encoded = headers[SHIPENGINE_SIGNATURE].strip()
        if len(encoded) > MAX_SIGNATURE_LENGTH:
            raise SignatureError(Refusal.MALFORMED_SIGNATURE, f"{SHIPENGINE_SIGNATURE} too long")
        try:
            signature = base64.b64decode(encoded, validate=True)
        except (ValueError, binascii.Error):
            raise SignatureError(Refusal.MALFORMED_SIGNATURE,
                                 f"{SHIPENGINE_SIGNATURE} is not base64") from None
        key_id = headers[SHIPENGINE_KEY_ID].strip()[:200]
        key = self.keys.key(key_id)
        if key is None:
            raise SignatureError(Refusal.NO_MATCH,
                                 f"key id {key_id!r} is not among the keys published at "
                                 f"{self.keys.url}; an old or forged signature")
        try:
            key.verify(signature, stamp.encode() + b"." + body, padding.PKCS1v15(),
                       hashes.SHA256())
        except InvalidSignature:
            raise SignatureError(Refusal.NO_MATCH,
                                 f"the RSA signature does not match the body under ShipEngine's "
                                 f"key {key_id!r}; the body was changed or not signed by "
                                 "ShipEngine") from None
        return SignedRequest(body_id(body), int(sent))


def _instant(stamp: str) -> float:
    """Seconds since the epoch of an ISO-8601 or epoch-seconds timestamp header."""
    try:
        if stamp.isascii() and stamp.isdigit() and len(stamp) <= 12:
            return float(stamp)
        parsed = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            raise ValueError("no offset")
        return parsed.timestamp()
    except ValueError:
        raise SignatureError(Refusal.MALFORMED_TIMESTAMP,
                             f"{SHIPENGINE_TIMESTAMP} {stamp[:40]!r} is neither ISO-8601 with an "
                             "offset nor epoch seconds") from None


STANDARD_SOURCES = ("easypost", "shippo", "ups", "fedex", "usps")


def schemes_from_settings(settings: Settings, *,
                          fetch: Fetch = fetch_over_http) -> dict[str, Scheme]:
    """The scheme of every source that has what it needs configured (SecretError if a
    configured secret is unusable)."""
    schemes: dict[str, Scheme] = {}
    tolerance = settings.webhook_tolerance_s
    generic = _standard(settings.webhook_secret, "BACKBONE_WEBHOOK_SECRET", tolerance)
    for source in STANDARD_SOURCES:
        own: SecretStr | None = getattr(settings, f"webhook_secret_{source}")
        if source == "easypost" and own is not None:
            schemes[source] = easypost(_secret_text(own, "BACKBONE_WEBHOOK_SECRET_EASYPOST"))
            continue
        standard = _standard(own, f"BACKBONE_WEBHOOK_SECRET_{source.upper()}", tolerance)
        if standard or generic:
            schemes[source] = standard or generic  # type: ignore[assignment]
    if settings.webhook_secret_aftership is not None:
        schemes["aftership"] = aftership(_secret_text(settings.webhook_secret_aftership,
                                                      "BACKBONE_WEBHOOK_SECRET_AFTERSHIP"))
    if settings.webhook_shipengine_jwks_url:
        schemes["shipengine"] = ShipEngineRsa(
            PublishedKeys(settings.webhook_shipengine_jwks_url,
                          refresh_s=settings.webhook_jwks_refresh_s, fetch=fetch), tolerance)
    return schemes


def _standard(secret: SecretStr | None, name: str, tolerance_s: int) -> StandardWebhooks | None:
    if secret is None:
        return None
    return StandardWebhooks(WebhookSecret.parse(secret.get_secret_value(), name=name),
                            tolerance_s)


def _secret_text(secret: SecretStr, name: str) -> str:
    text = secret.get_secret_value().strip()
    if not text:
        raise SecretError(f"{name} is set but empty; copy the secret from the provider's "
                          "webhook settings")
    return text


SETTING_OF = {
    "easypost": "BACKBONE_WEBHOOK_SECRET_EASYPOST or BACKBONE_WEBHOOK_SECRET",
    "aftership": "BACKBONE_WEBHOOK_SECRET_AFTERSHIP",
    "shipengine": "BACKBONE_WEBHOOK_SHIPENGINE_JWKS_URL",
}


def setting_of(source: str) -> str:
    """The setting that enables ``source`` (for the 404 of an unconfigured one)."""
    return SETTING_OF.get(source, f"BACKBONE_WEBHOOK_SECRET_{source.upper()} or "
                                  "BACKBONE_WEBHOOK_SECRET")
