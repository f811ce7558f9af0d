"""Each provider's signature scheme, checked against the providers' official libraries where one
exists (``easypost``'s validate_webhook, ``standardwebhooks``), and ShipEngine's RSA signatures
against keys published by a local HTTP server."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from easypost.errors import SignatureVerificationError
from easypost.util import validate_webhook
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from backbone.settings import Settings
from connectors.carrier_webhooks.schemes import (
    PublishedKeys,
    ShipEngineRsa,
    StandardWebhooks,
    aftership,
    easypost,
    fetch_over_http,
    schemes_from_settings,
)
from connectors.carrier_webhooks.signatures import Refusal, SignatureError, WebhookSecret

NOW = 1_715_000_000
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SECRETS = st.text(st.characters(blacklist_categories=["Cs", "Cc", "Zs"]), min_size=1, max_size=40)


def _easypost_oracle(body: bytes, header: str | None, secret: str) -> bool:
    headers = {"X-Hmac-Signature": header} if header is not None else {}
    try:
        validate_webhook(body, headers, secret)
    except SignatureVerificationError:
        return False
    except ValueError:  # it json-decodes a body whose signature matched
        return True
    return True


def _ours(scheme: Any, headers: dict[str, str], body: bytes) -> bool:
    try:
        scheme.verify({k.lower(): v for k, v in headers.items()}, body, now=NOW)
    except SignatureError:
        return False
    return True


@FUZZ
@given(secret=SECRETS, body=st.binary(max_size=300), tamper=st.sampled_from(
    ["none", "body", "digit", "prefix", "case", "missing", "secret"]))
def test_easypost_agrees_with_the_official_client(secret: str, body: bytes, tamper: str) -> None:
    import unicodedata
    key = unicodedata.normalize("NFKD", secret).encode()
    header: str | None = "hmac-sha256-hex=" + hmac.new(key, body, hashlib.sha256).hexdigest()
    signed_body = body
    if tamper == "body":
        signed_body = body + b" "
    elif tamper == "digit":
        header = header[:-1] + ("0" if header[-1] != "0" else "1")  # type: ignore[index]
    elif tamper == "prefix":
        header = header.replace("hmac-sha256-hex=", "sha256=")  # type: ignore[union-attr]
    elif tamper == "case":
        header = header.upper()  # type: ignore[union-attr]
    elif tamper == "missing":
        header = None
    checked_secret = secret + "x" if tamper == "secret" else secret
    expected = _easypost_oracle(signed_body, header, checked_secret)
    headers = {"X-Hmac-Signature": header} if header is not None else {}
    assert _ours(easypost(checked_secret), headers, signed_body) == expected
    assert expected == (tamper == "none")


def test_easypost_rotation_accepts_either_secret() -> None:
    body = b'{"object": "Event"}'
    old = "hmac-sha256-hex=" + hmac.new(b"old", body, hashlib.sha256).hexdigest()
    assert _easypost_oracle(body, old, "old")
    assert _ours(easypost("old new"), {"X-Hmac-Signature": old}, body)
    assert not _ours(easypost("new"), {"X-Hmac-Signature": old}, body)


@FUZZ
@given(key=st.binary(min_size=16, max_size=64), msg_id=st.from_regex(r"msg_[A-Za-z0-9]{1,30}",
                                                                      fullmatch=True),
       body=st.binary(max_size=300), skew=st.integers(-600, 600))
def test_standard_webhooks_agrees_with_the_reference_library(key: bytes, msg_id: str,
                                                             body: bytes, skew: int) -> None:
    secret = "whsec_" + base64.b64encode(key).decode()
    theirs = Webhook(secret)
    sent = datetime.fromtimestamp(NOW + skew, UTC)
    headers = {"webhook-id": msg_id, "webhook-timestamp": str(NOW + skew),
               "webhook-signature": theirs.sign(msg_id, sent, body)}
    ours = StandardWebhooks(WebhookSecret.parse(secret), tolerance_s=300)
    assert _ours(ours, headers, body) == (abs(skew) <= 300)
    # and what we would sign, their library accepts (it checks against its own clock)
    now_headers = {**headers, "webhook-timestamp": str(int(datetime.now(UTC).timestamp()))}
    now_headers["webhook-signature"] = ours.secret.sign(msg_id, int(now_headers[
        "webhook-timestamp"]), body)
    theirs.verify(body, now_headers, json_parse=False)
    with pytest.raises(WebhookVerificationError):
        theirs.verify(body + b"x", now_headers, json_parse=False)


def test_aftership_base64_hmac_of_the_body() -> None:
    # The recipe of AfterShip's "Webhook signature" page: base64(HMAC-SHA256(secret, body)).
    body = b'{"event": "tracking_update", "msg": {}}'
    signature = base64.b64encode(hmac.new(b"as-secret", body, hashlib.sha256).digest()).decode()
    scheme = aftership("as-secret")
    assert _ours(scheme, {"aftership-hmac-sha256": signature}, body)
    assert not _ours(scheme, {"aftership-hmac-sha256": signature}, body + b"\n")
    with pytest.raises(SignatureError) as refused:
        scheme.verify({"aftership-hmac-sha256": "not base64!"}, body, now=NOW)
    assert refused.value.refusal is Refusal.MALFORMED_SIGNATURE
    with pytest.raises(SignatureError) as missing:
        scheme.verify({}, body, now=NOW)
    assert "aftership-hmac-sha256" in str(missing.value)


def test_an_hmac_secret_never_shows_in_repr() -> None:
    assert "topsecret" not in repr(easypost("topsecret"))


# --- ShipEngine: RSA with published keys ---------------------------------------------------


def _jwk(kid: str, key: rsa.RSAPrivateKey) -> dict[str, str]:
    numbers = key.public_key().public_numbers()

    def b64(value: int) -> str:
        raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return {"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": b64(numbers.n),
            "e": b64(numbers.e)}


class Jwks:
    """A local HTTP server publishing a JWKS the test can change, counting fetches."""

    def __init__(self) -> None:
        self.keys: list[dict[str, str]] = []
        self.fetches = 0
        jwks = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                jwks.fetches += 1
                body = json.dumps({"keys": jwks.keys}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/jwks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def jwks() -> Iterator[Jwks]:
    server = Jwks()
    yield server
    server.close()


KEY_1 = rsa.generate_private_key(public_exponent=65537, key_size=2048)
KEY_2 = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _shipengine_headers(key: rsa.RSAPrivateKey, kid: str, body: bytes,
                        stamp: str = "2024-05-06T13:33:20Z") -> dict[str, str]:
    signature = key.sign(stamp.encode() + b"." + body, padding.PKCS1v15(), hashes.SHA256())
    return {"x-shipengine-rsa-sha256-key-id": kid,
            "x-shipengine-rsa-sha256-signature": base64.b64encode(signature).decode(),
            "x-shipengine-timestamp": stamp}


SHIPENGINE_NOW = datetime(2024, 5, 6, 13, 33, 20, tzinfo=UTC).timestamp()
SHIPENGINE_BODY = b'{"resource_type": "API_TRACK", "data": {}}'


def _shipengine(jwks: Jwks, clock: list[float]) -> ShipEngineRsa:
    return ShipEngineRsa(PublishedKeys(jwks.url, refresh_s=60, fetch=fetch_over_http,
                                       clock=lambda: clock[0]), tolerance_s=300)


def test_shipengine_signature_with_a_published_key(jwks: Jwks) -> None:
    jwks.keys = [_jwk("k1", KEY_1)]
    scheme = _shipengine(jwks, [0.0])
    signed = scheme.verify(_shipengine_headers(KEY_1, "k1", SHIPENGINE_BODY), SHIPENGINE_BODY,
                           now=SHIPENGINE_NOW)
    assert signed.webhook_id.startswith("sha256:") and jwks.fetches == 1
    # cached: a second request does not fetch again
    scheme.verify(_shipengine_headers(KEY_1, "k1", SHIPENGINE_BODY), SHIPENGINE_BODY,
                  now=SHIPENGINE_NOW)
    assert jwks.fetches == 1


@pytest.mark.parametrize(("change", "refusal"), [
    ("body", Refusal.NO_MATCH), ("key", Refusal.NO_MATCH), ("stale", Refusal.STALE_TIMESTAMP),
    ("stamp", Refusal.MALFORMED_TIMESTAMP), ("signature", Refusal.MALFORMED_SIGNATURE),
    ("missing", Refusal.MISSING_HEADER),
])
def test_shipengine_refusals(jwks: Jwks, change: str, refusal: Refusal) -> None:
    jwks.keys = [_jwk("k1", KEY_1)]
    body = SHIPENGINE_BODY
    headers = _shipengine_headers(KEY_2 if change == "key" else KEY_1, "k1", body)
    if change == "body":
        body = body.replace(b"API_TRACK", b"API_TRACX")
    elif change == "stale":
        headers = _shipengine_headers(KEY_1, "k1", body, "2024-05-06T13:00:00Z")
    elif change == "stamp":
        headers["x-shipengine-timestamp"] = "yesterday"
    elif change == "signature":
        headers["x-shipengine-rsa-sha256-signature"] = "%%%"
    elif change == "missing":
        del headers["x-shipengine-rsa-sha256-key-id"]
    with pytest.raises(SignatureError) as refused:
        _shipengine(jwks, [0.0]).verify(headers, body, now=SHIPENGINE_NOW)
    assert refused.value.refusal is refusal


def test_shipengine_key_rotation_refetches_but_unknown_ids_do_not_hammer(jwks: Jwks) -> None:
    jwks.keys = [_jwk("k1", KEY_1)]
    clock = [0.0]
    scheme = _shipengine(jwks, clock)
    scheme.verify(_shipengine_headers(KEY_1, "k1", SHIPENGINE_BODY), SHIPENGINE_BODY,
                  now=SHIPENGINE_NOW)
    jwks.keys.append(_jwk("k2", KEY_2))  # the provider rotates
    clock[0] = 61.0
    scheme.verify(_shipengine_headers(KEY_2, "k2", SHIPENGINE_BODY), SHIPENGINE_BODY,
                  now=SHIPENGINE_NOW)
    assert jwks.fetches == 2
    for made_up in ("x1", "x2", "x3"):
        with pytest.raises(SignatureError):
            scheme.verify(_shipengine_headers(KEY_1, made_up, SHIPENGINE_BODY), SHIPENGINE_BODY,
                          now=SHIPENGINE_NOW)
    assert jwks.fetches == 2  # within refresh_s of the last fetch


def test_shipengine_unreachable_jwks_refuses_clearly() -> None:
    scheme = ShipEngineRsa(PublishedKeys("http://127.0.0.1:9/jwks"))
    with pytest.raises(SignatureError) as refused:
        scheme.verify(_shipengine_headers(KEY_1, "k1", SHIPENGINE_BODY), SHIPENGINE_BODY,
                      now=SHIPENGINE_NOW)
    assert "not among the keys published at http://127.0.0.1:9/jwks" in str(refused.value)


def test_each_source_gets_its_own_scheme_from_settings() -> None:
    generic = "whsec_" + base64.b64encode(b"g" * 32).decode()
    shippo = "whsec_" + base64.b64encode(b"s" * 32).decode()
    configured = Settings(webhook_secret=SecretStr(generic),
                          webhook_secret_easypost=SecretStr("ep-secret"),
                          webhook_secret_shippo=SecretStr(shippo),
                          webhook_shipengine_jwks_url="http://127.0.0.1:9/jwks")
    schemes = schemes_from_settings(configured)
    assert sorted(schemes) == ["easypost", "fedex", "shipengine", "shippo", "ups", "usps"]
    assert schemes["easypost"].label == "body-hmac"
    assert schemes["shipengine"].label == "shipengine-rsa"
    assert isinstance(schemes["shippo"], StandardWebhooks)
    assert schemes["shippo"].secret.key == b"s" * 32
    assert schemes["ups"].secret.key == b"g" * 32  # type: ignore[attr-defined]
    assert schemes_from_settings(Settings()) == {}
