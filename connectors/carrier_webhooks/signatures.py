"""Standard Webhooks signature verification: is this body from the sender holding our secret?

The sender signs ``<webhook-id>.<webhook-timestamp>.<raw body bytes>`` with HMAC-SHA256 under the
shared key and sends ``webhook-signature: v1,<base64 mac>``; during a key rotation it sends
several space-separated signatures, one per key, and any one that matches is enough. Signatures
of other versions (``v1a,...`` asymmetric ones) are ignored, as the specification asks. A
timestamp more than ``tolerance_s`` away from our clock, in either direction, is refused so a
captured request cannot be replayed later.

The secret is ``whsec_<base64 key>`` (the prefix is optional, as in the reference libraries). It
never appears in a message, a log line or a repr.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

WEBHOOK_ID = "webhook-id"
WEBHOOK_TIMESTAMP = "webhook-timestamp"
WEBHOOK_SIGNATURE = "webhook-signature"
SECRET_PREFIX = "whsec_"
# Bounds what one request can make us hash and remember (the id goes into the de-dup memory).
MAX_ID_LENGTH = 256
MAX_SIGNATURES = 16


class Refusal(StrEnum):
    """Why a request is not accepted as signed by our sender (a metrics label too)."""

    MISSING_HEADER = "missing-header"
    MALFORMED_ID = "malformed-id"
    MALFORMED_TIMESTAMP = "malformed-timestamp"
    MALFORMED_SIGNATURE = "malformed-signature"
    STALE_TIMESTAMP = "stale-timestamp"
    FUTURE_TIMESTAMP = "future-timestamp"
    NO_MATCH = "no-signature-matched"


class SignatureError(ValueError):
    """A request whose signature headers do not prove it came from our sender."""

    def __init__(self, refusal: Refusal, message: str) -> None:
        super().__init__(message)
        self.refusal = refusal


class SecretError(ValueError):
    """A configured secret that is not ``whsec_<base64 key>`` (the value is never shown)."""


@dataclass(frozen=True)
class WebhookSecret:
    """The decoded HMAC key; built with :meth:`parse`."""

    key: bytes = field(repr=False)

    @classmethod
    def parse(cls, secret: str, *, name: str = "BACKBONE_WEBHOOK_SECRET") -> WebhookSecret:
        text = secret.strip()
        encoded = text.removeprefix(SECRET_PREFIX)
        try:
            key = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise SecretError(
                f"{name} is not a Standard Webhooks secret: expected whsec_ followed by base64 "
                f"({len(text)} characters given, not shown); copy it again from the sender's "
                "webhook settings") from None
        if not key:
            raise SecretError(f"{name} is empty after the whsec_ prefix; copy the whole secret "
                              "from the sender's webhook settings")
        return cls(key)

    def sign(self, webhook_id: str, timestamp: int, body: bytes) -> str:
        """The ``v1,<base64>`` signature a sender holding this key would send."""
        return "v1," + base64.b64encode(self.mac(webhook_id, timestamp, body)).decode()

    def mac(self, webhook_id: str, timestamp: int, body: bytes) -> bytes:
        """The raw HMAC-SHA256 of ``id.timestamp.body`` (what a v1 signature encodes)."""
        return hmac.digest(self.key, b"%s.%d.%s" % (webhook_id.encode(), timestamp, body),
                           hashlib.sha256)


@dataclass(frozen=True)
class SignedRequest:
    """What a verified request proved: its id and the sender's timestamp."""

    webhook_id: str
    timestamp: int


def verify(secret: WebhookSecret, headers: Mapping[str, str], body: bytes, *, now: float,
           tolerance_s: int = 300) -> SignedRequest:
    """The request's id and timestamp when one of its signatures matches; SignatureError if not.

    ``headers`` must look names up case-insensitively (Starlette's Headers do); ``body`` is the
    raw bytes as received, never a re-serialization.
    """
    missing = [name for name in (WEBHOOK_ID, WEBHOOK_TIMESTAMP, WEBHOOK_SIGNATURE)
               if not headers.get(name)]
    if missing:
        raise SignatureError(Refusal.MISSING_HEADER,
                             f"missing header {', '.join(missing)}; Standard Webhooks senders "
                             "send webhook-id, webhook-timestamp and webhook-signature")
    webhook_id = headers[WEBHOOK_ID].strip()
    if len(webhook_id) > MAX_ID_LENGTH or not webhook_id.isprintable():
        raise SignatureError(Refusal.MALFORMED_ID,
                             f"webhook-id is not a printable id of at most {MAX_ID_LENGTH} "
                             "characters")
    timestamp = _timestamp(headers[WEBHOOK_TIMESTAMP])
    _check_window(timestamp, now, tolerance_s)
    candidates = _v1_signatures(headers[WEBHOOK_SIGNATURE])
    expected = secret.mac(webhook_id, timestamp, body)
    # Every candidate is compared (no early exit) so timing says nothing about which matched.
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(candidate, expected)
    if not matched:
        raise SignatureError(Refusal.NO_MATCH,
                             f"none of the {len(candidates)} v1 signatures matches the body "
                             "under our secret; check that the sender and BACKBONE_WEBHOOK_SECRET "
                             "hold the same key and that nothing re-encodes the body in transit")
    return SignedRequest(webhook_id, timestamp)


def _timestamp(text: str) -> int:
    value = text.strip()
    if not (value.isascii() and value.isdigit()) or len(value) > 12:
        raise SignatureError(Refusal.MALFORMED_TIMESTAMP,
                             f"webhook-timestamp {value[:20]!r} is not whole seconds since the "
                             "Unix epoch")
    return int(value)


def _check_window(timestamp: int, now: float, tolerance_s: int) -> None:
    if timestamp < now - tolerance_s:
        raise SignatureError(Refusal.STALE_TIMESTAMP,
                             f"webhook-timestamp {timestamp} is {now - timestamp:.0f}s old, over "
                             f"the {tolerance_s}s window; a replay, or a sender retrying with "
                             "its first timestamp (it must re-sign each attempt)")
    if timestamp > now + tolerance_s:
        raise SignatureError(Refusal.FUTURE_TIMESTAMP,
                             f"webhook-timestamp {timestamp} is {timestamp - now:.0f}s ahead of "
                             f"our clock, over the {tolerance_s}s window; check the sender's and "
                             "this host's clocks (NTP)")


def _v1_signatures(header: str) -> list[bytes]:
    entries = header.split()
    if not entries or len(entries) > MAX_SIGNATURES:
        raise SignatureError(Refusal.MALFORMED_SIGNATURE,
                             f"webhook-signature must hold 1 to {MAX_SIGNATURES} space-separated "
                             f"'v1,<base64>' entries, got {len(entries)}")
    signatures: list[bytes] = []
    for position, entry in enumerate(entries, start=1):
        version, comma, encoded = entry.partition(",")
        if not comma or not version or not encoded:
            raise SignatureError(Refusal.MALFORMED_SIGNATURE,
                                 f"webhook-signature entry {position} is not "
                                 "'<version>,<base64 signature>'")
        if version != "v1":
            continue
        try:
            signatures.append(base64.b64decode(encoded, validate=True))
        except (binascii.Error, ValueError):
            raise SignatureError(Refusal.MALFORMED_SIGNATURE,
                                 f"webhook-signature entry {position} is not valid base64"
                                 ) from None
    if not signatures:
        raise SignatureError(Refusal.MALFORMED_SIGNATURE,
                             "webhook-signature has no v1 entry; only v1 (HMAC-SHA256) "
                             "signatures are accepted")
    return signatures
