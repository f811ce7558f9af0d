"""Who may use the console: operator passwords (hashed), signed sessions, CSRF tokens, a proxy.

Passwords are never stored: ``BACKBONE_CONSOLE_USERS`` names a file of ``<name>:<hash>`` lines,
``<hash>`` being ``scrypt$<n>$<r>$<p>$<salt b64>$<key b64>`` (what ``backbone console
--hash-password`` prints) or ``pbkdf2_sha256$<iterations>$<salt b64>$<key b64>``;
``BACKBONE_CONSOLE_PASSWORD`` alone allows one operator, ``admin``. A login gets a session
cookie: ``<payload>.<HMAC-SHA256>`` over the operator's name, its expiry and a CSRF token that
every form posts back. Optionally a reverse proxy that authenticated the operator names them in
``BACKBONE_CONSOLE_TRUSTED_HEADER``; the header is believed only from the configured proxy
addresses, never from anyone else.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
MIN_PBKDF2_ITERATIONS = 100_000
# After this many failed logins from one address, wait LOCKOUT_S before the next is tried.
MAX_FAILURES, LOCKOUT_S = 5, 60.0


class CredentialsError(ValueError):
    """The operators' configuration cannot be used; ``str()`` names the line and the fix."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """A scrypt hash line part for ``password`` (random salt)."""
    salt = salt or secrets.token_bytes(16)
    key = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P,
                         dklen=32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(key)}"


def check_hash(text: str) -> None:
    """CredentialsError unless ``text`` is a hash :func:`verify` understands."""
    parts = text.split("$")
    try:
        if parts[0] == "scrypt" and len(parts) == 6:
            int(parts[1]), int(parts[2]), int(parts[3])
            base64.b64decode(parts[4], validate=True), base64.b64decode(parts[5], validate=True)
            return
        if parts[0] == "pbkdf2_sha256" and len(parts) == 4:
            if int(parts[1]) < MIN_PBKDF2_ITERATIONS:
                raise CredentialsError(f"pbkdf2_sha256 with {parts[1]} iterations is too weak; "
                                       f"use at least {MIN_PBKDF2_ITERATIONS}")
            base64.b64decode(parts[2], validate=True), base64.b64decode(parts[3], validate=True)
            return
    except ValueError as error:
        if isinstance(error, CredentialsError):
            raise
        raise CredentialsError(f"malformed hash ({error})") from None
    raise CredentialsError("not a scrypt$... or pbkdf2_sha256$... hash")


def verify(password: str, stored: str) -> bool:
    """Whether ``password`` matches the ``stored`` hash (constant-time comparison)."""
    parts = stored.split("$")
    try:
        if parts[0] == "scrypt":
            n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
            salt, key = base64.b64decode(parts[4]), base64.b64decode(parts[5])
            candidate = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p,
                                       dklen=len(key), maxmem=2**27)
        elif parts[0] == "pbkdf2_sha256":
            iterations = int(parts[1])
            salt, key = base64.b64decode(parts[2]), base64.b64decode(parts[3])
            candidate = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations,
                                            dklen=len(key))
        else:
            return False
    except (ValueError, IndexError):
        return False
    return hmac.compare_digest(candidate, key)


def load_operators(users_file: Path | None, admin_password: str | None) -> dict[str, str]:
    """Operator name -> password hash, from the users file or the one admin password.

    A plain ``admin_password`` (not a hash) is hashed here, in memory.
    """
    if users_file is not None:
        try:
            lines = users_file.read_text(encoding="utf-8").splitlines()
        except OSError as error:
            raise CredentialsError(f"BACKBONE_CONSOLE_USERS {users_file}: cannot read it "
                                   f"({error.strerror})") from None
        operators: dict[str, str] = {}
        for number, line in enumerate(lines, start=1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            name, _, stored = line.strip().partition(":")
            where = f"BACKBONE_CONSOLE_USERS {users_file} line {number}"
            if not name or not stored:
                raise CredentialsError(f"{where}: write <name>:<hash> (hash from `backbone "
                                       "console --hash-password`)")
            try:
                check_hash(stored)
            except CredentialsError as error:
                raise CredentialsError(f"{where} ({name}): {error}; make one with `backbone "
                                       "console --hash-password`") from None
            operators[name] = stored
        if not operators:
            raise CredentialsError(f"BACKBONE_CONSOLE_USERS {users_file} names no operator")
        return operators
    if admin_password:
        try:
            check_hash(admin_password)
            return {"admin": admin_password}
        except CredentialsError:
            return {"admin": hash_password(admin_password)}
    return {}


@dataclass
class Session:
    """A logged-in operator: their name, when the login ends, their CSRF token."""

    operator: str
    expires: float
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))


class SessionSigner:
    """Session cookies as ``<payload>.<HMAC-SHA256>``; a tampered or expired one reads as None."""

    def __init__(self, key: bytes, lifetime_s: float) -> None:
        self._key = key
        self.lifetime_s = lifetime_s

    def new(self, operator: str, now: float | None = None) -> Session:
        return Session(operator, (now or time.time()) + self.lifetime_s)

    def dump(self, session: Session) -> str:
        # unpadded: a cookie value without "=" needs no quoting
        payload = base64.urlsafe_b64encode(json.dumps(
            {"o": session.operator, "e": session.expires, "c": session.csrf}).encode()
        ).decode().rstrip("=")
        return f"{payload}.{self._sign(payload)}"

    def load(self, cookie: str | None, now: float | None = None) -> Session | None:
        if not cookie or "." not in cookie:
            return None
        payload, _, signature = cookie.rpartition(".")
        if not hmac.compare_digest(signature, self._sign(payload)):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
            session = Session(str(data["o"]), float(data["e"]), str(data["c"]))
        except (ValueError, KeyError, TypeError):
            return None
        return session if session.expires > (now or time.time()) else None

    def _sign(self, payload: str) -> str:
        return hmac.new(self._key, payload.encode(), hashlib.sha256).hexdigest()


class LoginThrottle:
    """Failed logins per client address; a burst of failures locks that address out a while."""

    def __init__(self) -> None:
        self._failures: dict[str, tuple[int, float]] = {}

    def locked(self, client: str, now: float | None = None) -> float:
        """Seconds until ``client`` may try again (0: now)."""
        count, last = self._failures.get(client, (0, 0.0))
        if count < MAX_FAILURES:
            return 0.0
        return max(0.0, last + LOCKOUT_S - (now or time.monotonic()))

    def failed(self, client: str, now: float | None = None) -> None:
        count, _ = self._failures.get(client, (0, 0.0))
        self._failures[client] = (count + 1, now or time.monotonic())

    def succeeded(self, client: str) -> None:
        self._failures.pop(client, None)


def trusted_operator(headers: Mapping[str, str], client: str | None, header: str | None,
                     proxies: frozenset[str]) -> str | None:
    """The operator a trusted proxy names, or None (no header configured, or not from it)."""
    if not header or client not in proxies:
        return None
    name = headers.get(header.lower(), "").strip()
    return name or None


def valid_csrf(session: Session | None, submitted: str | None) -> bool:
    return session is not None and submitted is not None and hmac.compare_digest(
        session.csrf.encode(), submitted.encode())
