"""Property-based tests of webhook intake: any headers and any body, signed or not, end in a
refusal or an answer the sender can act on, never an unexpected exception or a 500."""

from __future__ import annotations

import base64

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.carrier_webhooks.schemes import (
    PublishedKeys,
    ShipEngineRsa,
    aftership,
    easypost,
)
from connectors.carrier_webhooks.signatures import (
    SignatureError,
    WebhookSecret,
    verify,
)

KEY = b"0123456789abcdef0123456789abcdef"
SECRET = WebhookSecret(KEY)
NOW = 1_715_000_000
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

HEADER_NAMES = st.sampled_from(["webhook-id", "webhook-timestamp", "webhook-signature",
                                "x-hmac-signature", "aftership-hmac-sha256", "content-type"])
HEADER_VALUES = st.one_of(
    st.text(max_size=80),
    st.from_regex(r"v1,[A-Za-z0-9+/=]{0,60}( v1a?,[A-Za-z0-9+/=]{0,60}){0,20}", fullmatch=True),
    st.integers(-10**30, 10**30).map(str),
    st.just("9" * 5000),
)


@FUZZ
@given(headers=st.dictionaries(HEADER_NAMES, HEADER_VALUES, max_size=6),
       body=st.binary(max_size=512))
def test_any_headers_are_verified_or_refused(headers: dict[str, str], body: bytes) -> None:
    try:
        verify(SECRET, headers, body, now=NOW)
    except SignatureError as error:
        assert str(error) and error.refusal.value


@FUZZ
@given(webhook_id=st.text(min_size=1, max_size=300), body=st.binary(max_size=512),
       skew=st.integers(-1000, 1000))
def test_a_correct_signature_is_accepted_exactly_inside_the_window(webhook_id: str, body: bytes,
                                                                   skew: int) -> None:
    headers = {"webhook-id": webhook_id, "webhook-timestamp": str(NOW + skew),
               "webhook-signature": SECRET.sign(webhook_id.strip(), NOW + skew, body)}
    try:
        signed = verify(SECRET, headers, body, now=NOW, tolerance_s=300)
    except SignatureError as error:
        assert abs(skew) > 300 or len(webhook_id.strip()) > 256 or not webhook_id.strip() \
            or not webhook_id.strip().isprintable(), str(error)
    else:
        assert abs(skew) <= 300 and signed.webhook_id == webhook_id.strip()


@FUZZ
@given(body=st.binary(max_size=512), flip=st.integers(0, 511))
def test_a_body_changed_after_signing_is_refused(body: bytes, flip: int) -> None:
    signature = SECRET.sign("msg_1", NOW, body)
    changed = bytearray(body or b"x")
    changed[flip % len(changed)] ^= 0x01
    try:
        verify(SECRET, {"webhook-id": "msg_1", "webhook-timestamp": str(NOW),
                        "webhook-signature": signature}, bytes(changed), now=NOW)
    except SignatureError as error:
        assert error.refusal.value == "no-signature-matched"
    else:
        raise AssertionError("a changed body passed verification")


def test_the_secret_is_base64() -> None:
    assert WebhookSecret.parse("whsec_" + base64.b64encode(KEY).decode()) == SECRET


PROVIDER_HEADERS = st.sampled_from([
    "x-hmac-signature", "aftership-hmac-sha256", "x-shipengine-rsa-sha256-key-id",
    "x-shipengine-rsa-sha256-signature", "x-shipengine-timestamp"])
PROVIDER_VALUES = st.one_of(
    HEADER_VALUES, st.from_regex(r"hmac-sha256-hex=[0-9a-fA-F]{0,80}", fullmatch=True),
    st.from_regex(r"20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9:]{8}(Z|[+-][0-9]{2}:[0-9]{2})?",
                  fullmatch=True))


@FUZZ
@given(headers=st.dictionaries(PROVIDER_HEADERS, PROVIDER_VALUES, max_size=5),
       body=st.binary(max_size=512))
def test_any_provider_headers_are_refused_clearly(headers: dict[str, str], body: bytes) -> None:
    keys = PublishedKeys("http://jwks.test/jwks", fetch=lambda url: b'{"keys": []}')
    for scheme in (easypost("ep-secret"), aftership("as-secret"), ShipEngineRsa(keys)):
        try:
            scheme.verify(headers, body, now=NOW)
        except SignatureError as error:
            assert str(error) and error.refusal.value
        else:
            raise AssertionError(f"{scheme.label} accepted made-up headers {headers!r}")
