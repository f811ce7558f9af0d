"""Who may use the console: hashes, operator files, sessions, throttling, the proxy header."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest

from processors.console import auth


def test_scrypt_hash_verifies_only_its_password() -> None:
    stored = auth.hash_password("correct horse battery")
    assert stored.startswith("scrypt$") and "correct" not in stored
    assert auth.verify("correct horse battery", stored)
    assert not auth.verify("correct horse batterY", stored)
    assert auth.hash_password("same", salt=b"s" * 16) != auth.hash_password("same")


def test_pbkdf2_hashes_are_accepted_when_strong_enough() -> None:
    salt = b"0123456789abcdef"
    key = hashlib.pbkdf2_hmac("sha256", b"pw-of-an-operator", salt, 200_000)
    stored = f"pbkdf2_sha256$200000${base64.b64encode(salt).decode()}$" \
             f"{base64.b64encode(key).decode()}"
    auth.check_hash(stored)
    assert auth.verify("pw-of-an-operator", stored) and not auth.verify("pw", stored)
    with pytest.raises(auth.CredentialsError, match="too weak"):
        auth.check_hash(stored.replace("$200000$", "$1000$"))


def test_users_file_lines_are_checked_and_named(tmp_path: Path) -> None:
    users = tmp_path / "operators"
    users.write_text(f"# operators\nalice:{auth.hash_password('alice-password-1')}\n\n")
    assert list(auth.load_operators(users, None)) == ["alice"]
    users.write_text("alice:hunter2\n")
    with pytest.raises(auth.CredentialsError, match=r"line 1 \(alice\).*--hash-password"):
        auth.load_operators(users, None)
    with pytest.raises(auth.CredentialsError, match="cannot read"):
        auth.load_operators(tmp_path / "absent", None)


def test_one_admin_password_is_hashed_in_memory() -> None:
    operators = auth.load_operators(None, "a-long-admin-password")
    assert list(operators) == ["admin"] and operators["admin"].startswith("scrypt$")
    assert auth.verify("a-long-admin-password", operators["admin"])
    assert auth.load_operators(None, None) == {}


def test_sessions_are_signed_and_expire() -> None:
    signer = auth.SessionSigner(b"k" * 32, lifetime_s=60)
    session = signer.new("alice", now=1000.0)
    cookie = signer.dump(session)
    assert signer.load(cookie, now=1001.0) == session
    assert signer.load(cookie, now=1061.0) is None  # expired
    payload, _, signature = cookie.rpartition(".")
    padded = payload + "=" * (-len(payload) % 4)
    forged = base64.urlsafe_b64encode(base64.urlsafe_b64decode(padded).replace(
        b"alice", b"admin")).decode()
    assert signer.load(f"{forged}.{signature}", now=1001.0) is None
    assert auth.SessionSigner(b"x" * 32, 60).load(cookie, now=1001.0) is None
    assert signer.load("garbage", now=1001.0) is None
    assert auth.valid_csrf(session, session.csrf) and not auth.valid_csrf(session, "nope")
    assert not auth.valid_csrf(None, session.csrf)


def test_failed_logins_lock_an_address_out_for_a_while() -> None:
    throttle = auth.LoginThrottle()
    for _ in range(auth.MAX_FAILURES):
        assert throttle.locked("10.0.0.9", now=100.0) == 0
        throttle.failed("10.0.0.9", now=100.0)
    assert throttle.locked("10.0.0.9", now=101.0) == pytest.approx(auth.LOCKOUT_S - 1)
    assert throttle.locked("10.0.0.8", now=101.0) == 0
    assert throttle.locked("10.0.0.9", now=100.0 + auth.LOCKOUT_S) == 0


def test_proxy_header_is_believed_only_when_configured_and_from_the_proxy() -> None:
    proxies = frozenset({"127.0.0.1"})
    headers = {"x-forwarded-user": "carol"}
    assert auth.trusted_operator(headers, "127.0.0.1", "X-Forwarded-User", proxies) == "carol"
    assert auth.trusted_operator(headers, "10.1.1.1", "X-Forwarded-User", proxies) is None
    assert auth.trusted_operator(headers, "127.0.0.1", None, proxies) is None
    assert auth.trusted_operator({}, "127.0.0.1", "X-Forwarded-User", proxies) is None
