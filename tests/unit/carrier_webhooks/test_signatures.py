"""Standard Webhooks verification against signatures computed here, independently of the code."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from connectors.carrier_webhooks.signatures import (
    Refusal,
    SecretError,
    SignatureError,
    WebhookSecret,
    verify,
)

KEY = b"0123456789abcdef0123456789abcdef"
SECRET = "whsec_" + base64.b64encode(KEY).decode()
OTHER_KEY = b"fedcba9876543210fedcba9876543210"
NOW = 1_715_000_000
BODY = b'{"object": "Event", "description": "tracker.updated"}'


def _sign(key: bytes, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The specification's recipe, written out: base64(HMAC-SHA256(key, id.timestamp.body))."""
    content = webhook_id.encode() + b"." + str(timestamp).encode() + b"." + body
    return "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()


def _headers(signature: str, webhook_id: str = "msg_1", timestamp: int = NOW) -> dict[str, str]:
    return {"webhook-id": webhook_id, "webhook-timestamp": str(timestamp),
            "webhook-signature": signature}


def _verify(headers: dict[str, str], body: bytes = BODY, now: float = NOW) -> str:
    return verify(WebhookSecret.parse(SECRET), headers, body, now=now, tolerance_s=300).webhook_id


def test_published_vector_of_the_specification() -> None:
    # The example in the Standard Webhooks / Svix documentation.
    secret = WebhookSecret.parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    headers = {"webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek", "webhook-timestamp": "1614265330",
               "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="}
    signed = verify(secret, headers, b'{"test": 2432232314}', now=1614265330)
    assert (signed.webhook_id, signed.timestamp) == ("msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330)


def test_valid_signature_is_accepted() -> None:
    assert _verify(_headers(_sign(KEY, "msg_1", NOW, BODY))) == "msg_1"


def test_secret_without_prefix_and_sign_agree_with_the_recipe() -> None:
    secret = WebhookSecret.parse(base64.b64encode(KEY).decode())
    assert secret.sign("msg_1", NOW, BODY) == _sign(KEY, "msg_1", NOW, BODY)


def test_any_signature_of_a_rotation_matches() -> None:
    rotated = f"{_sign(OTHER_KEY, 'msg_1', NOW, BODY)} {_sign(KEY, 'msg_1', NOW, BODY)}"
    assert _verify(_headers(rotated)) == "msg_1"


def test_other_versions_are_ignored_not_refused() -> None:
    header = f"v1a,c29tZXRoaW5nIGVsc2U= {_sign(KEY, 'msg_1', NOW, BODY)}"
    assert _verify(_headers(header)) == "msg_1"


@pytest.mark.parametrize(("headers", "body", "refusal"), [
    (_headers(_sign(OTHER_KEY, "msg_1", NOW, BODY)), BODY, Refusal.NO_MATCH),
    (_headers(_sign(KEY, "msg_1", NOW, BODY)), BODY + b" ", Refusal.NO_MATCH),
    (_headers(_sign(KEY, "msg_2", NOW, BODY)), BODY, Refusal.NO_MATCH),
    (_headers(_sign(KEY, "msg_1", NOW, BODY), timestamp=NOW + 1), BODY, Refusal.NO_MATCH),
    (_headers(_sign(OTHER_KEY, "msg_1", NOW, BODY) + " " + _sign(OTHER_KEY, "x", NOW, BODY)),
     BODY, Refusal.NO_MATCH),
])
def test_wrong_key_body_id_or_timestamp_matches_nothing(
        headers: dict[str, str], body: bytes, refusal: Refusal) -> None:
    with pytest.raises(SignatureError, match="none of the") as caught:
        _verify(headers, body)
    assert caught.value.refusal is refusal


def test_stale_and_future_timestamps_are_refused_at_the_window_edges() -> None:
    def at(timestamp: int) -> dict[str, str]:
        return _headers(_sign(KEY, "msg_1", timestamp, BODY), timestamp=timestamp)

    assert _verify(at(NOW - 300)) == _verify(at(NOW + 300)) == "msg_1"
    with pytest.raises(SignatureError, match="301s old") as stale:
        _verify(at(NOW - 301))
    assert stale.value.refusal is Refusal.STALE_TIMESTAMP
    with pytest.raises(SignatureError, match="ahead of our clock") as future:
        _verify(at(NOW + 301))
    assert future.value.refusal is Refusal.FUTURE_TIMESTAMP


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_missing_headers_are_named(missing: str) -> None:
    headers = _headers(_sign(KEY, "msg_1", NOW, BODY))
    del headers[missing]
    with pytest.raises(SignatureError, match=f"missing header {missing}") as caught:
        _verify(headers)
    assert caught.value.refusal is Refusal.MISSING_HEADER


@pytest.mark.parametrize(("signature", "timestamp", "refusal", "message"), [
    ("g0hM9SsE+OTPJTGt", str(NOW), Refusal.MALFORMED_SIGNATURE, "entry 1 is not"),
    ("v1,", str(NOW), Refusal.MALFORMED_SIGNATURE, "entry 1 is not"),
    ("v1,not*base64!", str(NOW), Refusal.MALFORMED_SIGNATURE, "not valid base64"),
    ("v1a,c29tZQ==", str(NOW), Refusal.MALFORMED_SIGNATURE, "no v1 entry"),
    (" ".join(["v1,c29tZQ=="] * 17), str(NOW), Refusal.MALFORMED_SIGNATURE, "1 to 16"),
    ("v1,c29tZQ==", "2024-05-06T00:00:00Z", Refusal.MALFORMED_TIMESTAMP, "whole seconds"),
    ("v1,c29tZQ==", "1715000000.5", Refusal.MALFORMED_TIMESTAMP, "whole seconds"),
])
def test_malformed_headers_say_what_is_wrong(signature: str, timestamp: str, refusal: Refusal,
                                             message: str) -> None:
    headers = {"webhook-id": "msg_1", "webhook-timestamp": timestamp,
               "webhook-signature": signature}
    with pytest.raises(SignatureError, match=message) as caught:
        _verify(headers)
    assert caught.value.refusal is refusal


def test_overlong_webhook_id_is_refused() -> None:
    webhook_id = "m" * 257
    with pytest.raises(SignatureError) as caught:
        _verify(_headers(_sign(KEY, webhook_id, NOW, BODY), webhook_id=webhook_id))
    assert caught.value.refusal is Refusal.MALFORMED_ID


@pytest.mark.parametrize("secret", ["whsec_not base64!", "whsec_", "hunter2-secret"])
def test_bad_secret_is_refused_without_showing_it(secret: str) -> None:
    with pytest.raises(SecretError) as caught:
        WebhookSecret.parse(secret)
    assert "BACKBONE_WEBHOOK_SECRET" in str(caught.value)
    assert secret.removeprefix("whsec_") not in str(caught.value) or secret == "whsec_"


def test_the_key_never_shows_in_repr() -> None:
    assert base64.b64encode(KEY).decode() not in repr(WebhookSecret.parse(SECRET))
    assert "0123456789abcdef" not in repr(WebhookSecret.parse(SECRET))
