"""backbone/stack/pki.py: the secured stack's certificates, made once and kept while valid."""

from __future__ import annotations

import datetime as dt
import ipaddress
import stat
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID

from backbone.stack import pki


def _load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_a_ca_a_broker_and_a_certificate_per_client(tmp_path: Path) -> None:
    made = pki.ensure(tmp_path / "pki", ["edi-x12", "operator"])
    ca = _load(made.ca_certificate)
    broker = _load(made.certificate(pki.BROKER_NAME))
    client = _load(made.certificate("edi-x12"))
    broker.verify_directly_issued_by(ca)
    client.verify_directly_issued_by(ca)
    assert client.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "edi-x12"
    names = broker.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in names.get_values_for_type(x509.IPAddress)
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    # Kafka's PEM key store: the key, then the certificate, in one file
    keystore = made.keystore("edi-x12").read_text()
    assert keystore.index("BEGIN PRIVATE KEY") < keystore.index("BEGIN CERTIFICATE")
    for secret in (made.key("edi-x12"), made.key(pki.CA_NAME), made.keystore("edi-x12")):
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600


def test_ensure_keeps_what_is_valid_and_renews_what_is_not(tmp_path: Path) -> None:
    folder = tmp_path / "pki"
    made = pki.ensure(folder, ["edi-x12"])
    before = {path.name: path.read_bytes() for path in folder.iterdir()}
    pki.ensure(folder, ["edi-x12"])
    assert {path.name: path.read_bytes() for path in folder.iterdir()} == before

    pki.issue(made, "edi-x12", expired=True)  # the client certificate runs out
    assert _load(made.certificate("edi-x12")).not_valid_after_utc < dt.datetime.now(dt.UTC)
    pki.ensure(folder, ["edi-x12"])
    renewed = _load(made.certificate("edi-x12"))
    assert renewed.not_valid_after_utc > dt.datetime.now(dt.UTC) + dt.timedelta(days=300)
    assert made.ca_certificate.read_bytes() == before["ca.pem"]  # the CA stays

    pki.issue(made, "edi-x12", untrusted=True)  # signed by someone else: replaced too
    pki.ensure(folder, ["edi-x12"])
    _load(made.certificate("edi-x12")).verify_directly_issued_by(_load(made.ca_certificate))


def test_broken_certificates_for_the_refusal_tests(tmp_path: Path) -> None:
    made = pki.ensure(tmp_path / "pki", [])
    pki.issue(made, "late", expired=True)
    pki.issue(made, "rogue", untrusted=True)
    ca = _load(made.ca_certificate)
    late = _load(made.certificate("late"))
    late.verify_directly_issued_by(ca)
    assert late.not_valid_after_utc < dt.datetime.now(dt.UTC)
    rogue = _load(made.certificate("rogue"))
    assert rogue.issuer != ca.subject
