"""The carriers' OAuth tokens: cached, renewed a minute before they expire, renewed on a 401;
secrets never in a repr or a message."""

from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr

from connectors.carrier_tracking.clients import CarrierApi, TrackingApiError


class FedEx:
    """A FedEx-shaped API on httpx's mock transport: tokens last ``lifetime`` seconds."""

    def __init__(self, lifetime: int = 120, refuse: bool = False) -> None:
        self.lifetime = lifetime
        self.refuse = refuse
        self.issued: list[str] = []
        self.revoked: set[str] = set()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            assert b"client_secret=fx-secret" in request.content
            if self.refuse:
                return httpx.Response(401, json={"errors": [{"code": "NOT.AUTHORIZED.ERROR"}]})
            self.issued.append(f"tok-{len(self.issued) + 1}")
            return httpx.Response(200, json={"access_token": self.issued[-1],
                                             "expires_in": self.lifetime})
        token = request.headers["authorization"].removeprefix("Bearer ")
        if token in self.revoked:
            return httpx.Response(401, json={"errors": [{"code": "NOT.AUTHORIZED.ERROR"}]})
        return httpx.Response(200, json={"output": {"completeTrackResults": []}})


def _api(server: FedEx, clock: list[float]) -> CarrierApi:
    return CarrierApi("fedex", "https://fedex.test", "fx-id", SecretStr("fx-secret"),
                      clock=lambda: clock[0], transport=httpx.MockTransport(server))


def test_a_token_is_reused_until_a_minute_before_it_expires() -> None:
    server, clock = FedEx(lifetime=120), [0.0]
    api = _api(server, clock)
    api.track("1")
    clock[0] = 59.0
    api.track("2")
    assert server.issued == ["tok-1"]
    clock[0] = 61.0  # within the last minute of its life: renewed before use
    assert api.track("3").status == 200
    assert server.issued == ["tok-1", "tok-2"]


def test_a_revoked_token_is_renewed_once_on_401() -> None:
    server, clock = FedEx(lifetime=3600), [0.0]
    api = _api(server, clock)
    api.track("1")
    server.revoked.add("tok-1")
    assert api.track("2").status == 200
    assert server.issued == ["tok-1", "tok-2"]


def test_refused_credentials_are_a_clear_error_without_the_secret() -> None:
    api = _api(FedEx(refuse=True), [0.0])
    with pytest.raises(TrackingApiError) as error:
        api.track("1")
    assert "fedex: token request refused (HTTP 401)" in str(error.value)
    assert "fx-secret" not in str(error.value) and "fx-secret" not in repr(api)


def test_the_token_never_shows_in_a_repr() -> None:
    server, clock = FedEx(), [0.0]
    api = _api(server, clock)
    api.track("1")
    assert "tok-1" not in repr(api)
