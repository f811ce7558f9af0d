"""A refused login or certificate: one clear line on stderr within seconds, exit 2."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from backbone.stack import pki
from tests.secure.conftest import SecureSession

pytestmark = pytest.mark.integration

# CLI start-up (imports) takes ~3 s on a loaded CI machine; a retry loop would take 30 s+.
WITHIN_S = 15.0


def _refused(secure: SecureSession, env: dict[str, str]) -> str:
    started = time.monotonic()
    result = secure.run(["topics", "apply"], env, timeout_s=60)
    elapsed = time.monotonic() - started
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert elapsed < WITHIN_S, f"took {elapsed:.1f}s"
    assert result.stdout == ""  # nothing was applied
    return lines[0]


def test_wrong_password(secure: SecureSession, tmp_path: Path) -> None:
    wrong = tmp_path / "password"
    wrong.write_text("not-the-password-at-all")
    line = _refused(secure, secure.env("admin", BACKBONE_KAFKA_SASL_PASSWORD_FILE=str(wrong)))
    assert "refused user 'admin' (SCRAM-SHA-512): wrong user name or password" in line
    assert "not-the-password-at-all" not in line


def test_unknown_user(secure: SecureSession) -> None:
    line = _refused(secure, secure.env("admin", BACKBONE_KAFKA_SASL_USERNAME="mallory"))
    assert "refused user 'mallory'" in line


@pytest.fixture
def other_certificates(secure: SecureSession, tmp_path: Path) -> pki.Pki:
    """Certificates the broker must refuse: expired (our CA), and from a CA it does not trust."""
    mine = secure.endpoints.pki
    probe = pki.Pki(tmp_path / "pki")
    probe.directory.mkdir()
    for source, target in ((mine.ca_certificate, probe.ca_certificate),
                           (mine.key(pki.CA_NAME), probe.key(pki.CA_NAME))):
        target.write_bytes(source.read_bytes())
    pki.issue(probe, "edi-x12-expired", expired=True)
    pki.issue(probe, "edi-x12-rogue", untrusted=True)
    return probe


def _mtls_env(secure: SecureSession, certificates: pki.Pki, name: str) -> dict[str, str]:
    return secure.env("edi-x12", mtls=True,
                      BACKBONE_KAFKA_SSL_CERTIFICATE_LOCATION=str(certificates.certificate(name)),
                      BACKBONE_KAFKA_SSL_KEY_LOCATION=str(certificates.key(name)))


def test_expired_certificate(secure: SecureSession, other_certificates: pki.Pki) -> None:
    line = _refused(secure, _mtls_env(secure, other_certificates, "edi-x12-expired"))
    assert "refused our client certificate" in line and "expired on" in line


def test_certificate_from_an_untrusted_ca(secure: SecureSession,
                                          other_certificates: pki.Pki) -> None:
    line = _refused(secure, _mtls_env(secure, other_certificates, "edi-x12-rogue"))
    assert "is not signed by a CA the broker trusts" in line
    assert "CN=backbone untrusted CA" in line


def test_no_certificate_on_the_mtls_listener(secure: SecureSession) -> None:
    env = secure.env("edi-x12", mtls=True)
    del env["BACKBONE_KAFKA_SSL_CERTIFICATE_LOCATION"], env["BACKBONE_KAFKA_SSL_KEY_LOCATION"]
    line = _refused(secure, env)
    assert "requires a client certificate and we sent none" in line


def test_a_broker_we_do_not_trust(secure: SecureSession) -> None:
    env = secure.env("admin", BACKBONE_KAFKA_SSL_CA_LOCATION=str(
        secure.endpoints.pki.certificate("edi-x12")))  # any PEM that is not the CA
    line = _refused(secure, env)
    assert "we do not trust the broker's certificate" in line


def test_the_right_certificate_gets_in(secure: SecureSession) -> None:
    # the control: the same command as edi-x12 over mTLS reaches the broker (and is then told
    # it may not create topics: only the admin may)
    result = secure.run(["topics", "apply"], secure.env("edi-x12", mtls=True))
    assert "refused our client certificate" not in result.stderr
    assert "unchanged" in result.stdout or "refused" in result.stdout or result.returncode
