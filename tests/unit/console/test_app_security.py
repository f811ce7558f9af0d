"""The console refuses the anonymous, the forged and the cross-site, before touching Kafka."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from backbone.clients import Endpoints
from processors.console.app import COOKIE, SECURITY_HEADERS, ConsoleConfig, build_app
from processors.console.auth import hash_password

PASSWORD = "operator-password-1"


class Browser:
    """A cookie-keeping client of the app in this process (no server, no Kafka)."""

    def __init__(self, config: ConsoleConfig) -> None:
        self.app = build_app(config)
        self.cookies = httpx.Cookies()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, client=kwargs.pop("client",
                                                                          ("127.0.0.1", 5000)))
            async with httpx.AsyncClient(transport=transport, base_url="http://console.test",
                                         cookies=self.cookies) as client:
                response = await client.request(method, path, **kwargs)
                self.cookies.update(client.cookies)
                return response

        return asyncio.run(send())

    def login(self, operator: str = "alice", password: str = PASSWORD) -> httpx.Response:
        return self.request("POST", "/login", data={"operator": operator, "password": password,
                                                    "next": "/audit"})

    def csrf(self) -> str:
        """The token the session's forms carry (read from the signed cookie)."""
        session = self.app.state.console.signer.load(self.cookies.get(COOKIE))
        assert session is not None
        return str(session.csrf)


def _config(**overrides: Any) -> ConsoleConfig:
    values: dict[str, Any] = dict(
        endpoints=Endpoints("127.0.0.1:1", "http://127.0.0.1:1"),
        operators={"alice": hash_password(PASSWORD)}, secret_key=b"k" * 32)
    values.update(overrides)
    return ConsoleConfig(**values)


@pytest.fixture
def browser() -> Iterator[Browser]:
    yield Browser(_config())


def test_every_page_needs_a_login(browser: Browser) -> None:
    for path in ("/", "/letter?where=t:0:1", "/audit", "/processors", "/jobs/x"):
        response = browser.request("GET", path)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login?next=")
    assert browser.request("POST", "/replay", data={}).status_code == 403
    assert browser.request("GET", "/healthz").status_code == 200


def test_wrong_password_is_refused_and_right_one_logs_in(browser: Browser) -> None:
    refused = browser.login(password="not-the-password")
    assert refused.status_code == 401 and "wrong password" in refused.text
    assert COOKIE not in browser.cookies
    answer = browser.login()
    assert (answer.status_code, answer.headers["location"]) == (303, "/audit")
    cookie = answer.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie


def test_login_redirects_only_to_this_site(browser: Browser) -> None:
    for target in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        answer = browser.request("POST", "/login", data={
            "operator": "alice", "password": PASSWORD, "next": target})
        assert answer.headers["location"] == "/"


def test_posts_need_the_session_csrf_token_and_this_origin(browser: Browser) -> None:
    browser.login()
    refused = browser.request("POST", "/purge/run", data={"reason": "x", "pick": "t:0:1"})
    assert refused.status_code == 403 and "CSRF" in refused.text
    token = browser.csrf()
    cross = browser.request("POST", "/purge/run", data={"csrf": token, "reason": "x"},
                            headers={"origin": "https://evil.example"})
    assert cross.status_code == 403 and "cross-site" in cross.text
    # with the token, the request reaches the action: a purge without reason is explained
    accepted = browser.request("POST", "/purge/run", data={"csrf": token, "reason": " "},
                               headers={"origin": "http://console.test"})
    assert accepted.status_code == 400 and "needs a reason" in accepted.text


def test_repeated_failures_lock_the_address_out(browser: Browser) -> None:
    for _ in range(5):
        browser.login(password="wrong-wrong-wrong")
    locked = browser.login()
    assert locked.status_code == 401 and "too many failed logins" in locked.text


def test_pages_forbid_scripts_and_framing(browser: Browser) -> None:
    response = browser.request("GET", "/login")
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value
    assert "script-src" not in SECURITY_HEADERS["Content-Security-Policy"]  # default-src 'none'
    assert not re.search(r"<script", response.text, re.IGNORECASE)


def test_a_trusted_proxy_names_the_operator_and_nobody_else_can() -> None:
    browser = Browser(_config(operators={}, trusted_header="X-Forwarded-User"))
    spoofed = browser.request("GET", "/audit", headers={"x-forwarded-user": "mallory"},
                              client=("10.9.9.9", 4000))
    assert spoofed.status_code == 303  # not from the proxy: to the login page
    proxied = browser.request("GET", "/jobs/none", headers={"x-forwarded-user": "carol"})
    assert proxied.status_code == 400 and "carol" in proxied.text  # in, as carol
    token = browser.csrf()
    answer = browser.request("POST", "/purge/run", data={"csrf": token, "reason": ""},
                             headers={"x-forwarded-user": "carol"})
    assert answer.status_code == 400 and "needs a reason" in answer.text
    stale = browser.request("POST", "/purge/run", data={"csrf": token, "reason": ""},
                            headers={"x-forwarded-user": "dave"})
    assert stale.status_code == 403  # another operator: another session, another token
