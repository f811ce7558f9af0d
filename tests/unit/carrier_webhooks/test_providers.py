"""Provider webhooks through the whole app (in-memory sink): each source with its own scheme and
secret, its tracking payload parsed into milestones, and bad signatures, oversized and garbage
bodies answered clearly."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
from easypost.util import validate_webhook
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from backbone.settings import Settings
from connectors.carrier_webhooks import Clock, build_app
from connectors.carrier_webhooks.schemes import (
    PublishedKeys,
    ShipEngineRsa,
    aftership,
    easypost,
)
from connectors.carrier_webhooks.signatures import SecretError
from tests.unit.carrier_webhooks.test_app import NOW, Client, MemorySink
from tests.unit.carrier_webhooks.test_schemes import KEY_1, _jwk, _shipengine_headers
from tests.unit.carriers.test_formats import TRACKER_UPDATED
from tests.unit.carriers.test_rest_formats import AFTERSHIP_WEBHOOK, SHIPENGINE_WEBHOOK

EASYPOST_SECRET = "easypost-webhook-secret"
AFTERSHIP_SECRET = "aftership-webhook-secret"
EASYPOST_BODY = json.dumps(TRACKER_UPDATED).encode()
AFTERSHIP_BODY = json.dumps(AFTERSHIP_WEBHOOK).encode()
SHIPENGINE_BODY = json.dumps(SHIPENGINE_WEBHOOK).encode()
SHIPENGINE_STAMP = "2024-05-06T12:53:20Z"  # NOW


@pytest.fixture
def sink() -> MemorySink:
    return MemorySink()


def _app(sink: MemorySink, **limits: int) -> Client:
    keys = PublishedKeys("http://jwks.test/jwks",
                         fetch=lambda url: json.dumps({"keys": [_jwk("k1", KEY_1)]}).encode())
    schemes = {"easypost": easypost(f"{EASYPOST_SECRET} rotated-out-secret"),
               "aftership": aftership(AFTERSHIP_SECRET),
               "shipengine": ShipEngineRsa(keys)}
    settings = Settings(webhook_rate_per_s=0, webhook_max_body_bytes=limits.get("size", 65536))
    return Client(build_app(sink, settings, clock=Clock(wall=lambda: NOW),  # type: ignore[arg-type]
                            schemes=schemes))


def _easypost_headers(body: bytes, secret: str = EASYPOST_SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hmac-Signature": f"hmac-sha256-hex={digest}", "content-type": "application/json"}


def test_a_real_easypost_delivery_is_accepted(sink: MemorySink) -> None:
    headers = _easypost_headers(EASYPOST_BODY)
    validate_webhook(EASYPOST_BODY, headers, EASYPOST_SECRET)  # EasyPost's client agrees
    answer = _app(sink).post("/webhooks/easypost", content=EASYPOST_BODY, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["events"] == 3
    assert [e.raw_status.code for e in sink.published] == ["pre_transit", "in_transit",
                                                           "delivered"]
    assert sink.archived[0].webhook_id == "sha256:" + hashlib.sha256(EASYPOST_BODY).hexdigest()
    again = _app(sink).post("/webhooks/easypost", content=EASYPOST_BODY, headers=headers)
    assert again.status_code == 200  # a fresh app does not remember: consumers de-dup by key
    assert {e.idempotency_key for e in sink.published[:3]} == {
        e.idempotency_key for e in sink.published[3:]}


def test_easypost_signed_with_another_secret_is_401(sink: MemorySink) -> None:
    answer = _app(sink).post("/webhooks/easypost", content=EASYPOST_BODY,
                             headers=_easypost_headers(EASYPOST_BODY, "someone-else"))
    assert answer.status_code == 401
    assert answer.json()["reason"] == "no-signature-matched"
    assert "EasyPost secret" in answer.json()["error"] and sink.archived == []


def test_an_easypost_signature_sent_to_aftership_is_401(sink: MemorySink) -> None:
    answer = _app(sink).post("/webhooks/aftership", content=EASYPOST_BODY,
                             headers=_easypost_headers(EASYPOST_BODY))
    assert (answer.status_code, answer.json()["reason"]) == (401, "missing-header")


def test_aftership_webhook_accepted(sink: MemorySink) -> None:
    signature = base64.b64encode(hmac.new(AFTERSHIP_SECRET.encode(), AFTERSHIP_BODY,
                                          hashlib.sha256).digest()).decode()
    answer = _app(sink).post("/webhooks/aftership", content=AFTERSHIP_BODY, headers={
        "aftership-hmac-sha256": signature, "content-type": "application/json"})
    assert answer.status_code == 200, answer.text
    assert [e.raw_status.source.value for e in sink.published] == ["AFTERSHIP", "AFTERSHIP"]


def test_shipengine_webhook_accepted_with_the_published_key(sink: MemorySink) -> None:
    headers = {**_shipengine_headers(KEY_1, "k1", SHIPENGINE_BODY, SHIPENGINE_STAMP),
               "content-type": "application/json"}
    answer = _app(sink).post("/webhooks/shipengine", content=SHIPENGINE_BODY, headers=headers)
    assert answer.status_code == 200, answer.text
    assert {e.tracking_number for e in sink.published} == {"9405511899223197428490"}


@pytest.mark.parametrize("body", [b"\x00\xff garbage", b"[1, 2]", b'{"object": "Event"}',
                                  b'{"a": ' + b"9" * 5000 + b"}", b"[" * 100_000])
def test_a_correctly_signed_garbage_body_is_400_and_archived(sink: MemorySink,
                                                             body: bytes) -> None:
    answer = _app(sink, size=200_000).post("/webhooks/easypost", content=body,
                                           headers=_easypost_headers(body))
    assert answer.status_code == 400, answer.text
    assert "easypost webhook sha256:" in answer.json()["error"]
    assert len(sink.archived) == 1 and sink.published == []


def test_an_oversized_body_is_413_before_any_signature_check(sink: MemorySink) -> None:
    body = b"{" + b" " * 5000 + b"}"
    answer = _app(sink, size=1024).post("/webhooks/easypost", content=body,
                                        headers=_easypost_headers(body))
    assert answer.status_code == 413 and sink.archived == []


def test_an_unconfigured_source_is_404_naming_its_setting(sink: MemorySink) -> None:
    answer = _app(sink).post("/webhooks/shippo", content=b"{}",
                             headers={"content-type": "application/json"})
    assert answer.status_code == 404
    assert "BACKBONE_WEBHOOK_SECRET_SHIPPO" in answer.json()["error"]


def test_no_source_configured_refuses_to_start(sink: MemorySink) -> None:
    with pytest.raises(SecretError, match="no webhook source is configured"):
        build_app(sink, Settings(webhook_secret=None))  # type: ignore[arg-type]


def test_settings_give_easypost_its_own_secret(sink: MemorySink) -> None:
    settings = Settings(webhook_secret_easypost=SecretStr(EASYPOST_SECRET), webhook_rate_per_s=0)
    client = Client(build_app(sink, settings, clock=Clock(wall=lambda: NOW)))  # type: ignore[arg-type]
    answer = client.post("/webhooks/easypost", content=EASYPOST_BODY,
                         headers=_easypost_headers(EASYPOST_BODY))
    assert answer.status_code == 200, answer.text


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.function_scoped_fixture])
@given(body=st.one_of(st.binary(max_size=400),
                      st.recursive(st.none() | st.integers() | st.text(max_size=20),
                                   lambda inner: st.lists(inner, max_size=3)
                                   | st.dictionaries(st.sampled_from(
                                       ["object", "result", "tracking_details", "tracking_code",
                                        "msg", "checkpoints", "data", "events", "status"]),
                                       inner, max_size=4), max_leaves=10
                                   ).map(lambda value: json.dumps(value).encode())),
       source=st.sampled_from(["easypost", "aftership"]))
def test_any_correctly_signed_body_is_answered_200_or_400_never_500(body: bytes,
                                                                   source: str) -> None:
    sink = MemorySink()
    if source == "easypost":
        headers = _easypost_headers(body)
    else:
        signature = base64.b64encode(hmac.new(AFTERSHIP_SECRET.encode(), body,
                                              hashlib.sha256).digest()).decode()
        headers = {"aftership-hmac-sha256": signature, "content-type": "application/json"}
    answer = _app(sink).post(f"/webhooks/{source}", content=body, headers=headers)
    assert answer.status_code in (200, 400), answer.text
    assert len(sink.archived) == 1
    # accepted with the events it held (a tracker may hold none yet), or refused with none
    published = answer.json().get("events", 0) if answer.status_code == 200 else 0
    assert len(sink.published) == published
