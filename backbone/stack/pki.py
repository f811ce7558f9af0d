"""The secured stack's certificates: a local CA, the broker's certificate and one per component.

Everything is PEM, made with ``cryptography``: ``ca.pem`` (what clients trust), ``<name>.pem`` +
``<name>.key`` for each holder, and ``<name>.keystore.pem`` (key then certificate) because Kafka's
PEM key store wants both in one file. A client certificate's common name is the component's
principal name (the broker maps ``CN=<name>`` to ``User:<name>``), so mTLS and SCRAM clients of
one component get the same ACLs. :func:`ensure` is idempotent: it keeps what is still valid and
signed by the current CA, and renews the rest. :func:`issue` also makes the broken certificates
the tests need (expired, or signed by a CA nobody trusts).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_NAME = "ca"
BROKER_NAME = "broker"
CA_DAYS = 3650
LEAF_DAYS = 825
# Renew a certificate this close to its end, so a stack started today still works tomorrow.
RENEW_BEFORE = dt.timedelta(days=2)


@dataclass(frozen=True)
class Pki:
    """Where the PEM files of one stack live."""

    directory: Path

    @property
    def ca_certificate(self) -> Path:
        return self.directory / f"{CA_NAME}.pem"

    def certificate(self, name: str) -> Path:
        return self.directory / f"{name}.pem"

    def key(self, name: str) -> Path:
        return self.directory / f"{name}.key"

    def keystore(self, name: str) -> Path:
        """Key and certificate in one file, the layout of Kafka's ``ssl.keystore.type=PEM``."""
        return self.directory / f"{name}.keystore.pem"


def ensure(directory: Path, clients: Iterable[str],
           hosts: tuple[str, ...] = ("127.0.0.1", "localhost")) -> Pki:
    """The CA, a broker certificate for ``hosts`` and a client certificate per name in
    ``clients``; existing valid files are kept."""
    pki = Pki(directory)
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    ca_key, ca_cert = _ensure_ca(pki)
    _ensure_leaf(pki, BROKER_NAME, ca_key, ca_cert, hosts=hosts)
    for name in clients:
        _ensure_leaf(pki, name, ca_key, ca_cert)
    return pki


def ensure_server(pki: Pki, name: str,
                  hosts: tuple[str, ...] = ("127.0.0.1", "localhost")) -> Path:
    """A server certificate ``name`` for ``hosts`` signed by ``pki``'s CA (made by
    :func:`ensure`); its PEM path."""
    _ensure_leaf(pki, name, _load_key(pki.key(CA_NAME)), _load_cert(pki.ca_certificate),
                 hosts=hosts)
    return pki.certificate(name)


def issue(pki: Pki, name: str, *, expired: bool = False, untrusted: bool = False) -> Pki:
    """A client certificate for ``name`` written to ``pki``, signed by the stack's CA, or by a
    throwaway CA when ``untrusted``; already expired when ``expired`` (for refusal tests)."""
    pki.directory.mkdir(parents=True, exist_ok=True)
    if untrusted:
        ca_key, ca_cert = _new_ca("backbone untrusted CA")
    else:
        ca_key = _load_key(pki.key(CA_NAME))
        ca_cert = _load_cert(pki.ca_certificate)
    now = _now()
    not_after = now - dt.timedelta(days=1) if expired else now + dt.timedelta(days=LEAF_DAYS)
    _write_leaf(pki, name, ca_key, ca_cert, not_before=now - dt.timedelta(days=30),
                not_after=not_after)
    return pki


# -- the CA ---------------------------------------------------------------------------------


def _ensure_ca(pki: Pki) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    try:
        key = _load_key(pki.key(CA_NAME))
        cert = _load_cert(pki.ca_certificate)
        if _fresh(cert):
            return key, cert
    except (OSError, ValueError):
        pass
    key, cert = _new_ca("backbone local CA")
    _write_key(pki.key(CA_NAME), key)
    pki.ca_certificate.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key, cert


def _new_ca(common_name: str) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                          content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, encipher_only=False,
                          decipher_only=False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                       critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


# -- leaf certificates ----------------------------------------------------------------------


def _ensure_leaf(pki: Pki, name: str, ca_key: ec.EllipticCurvePrivateKey,
                 ca_cert: x509.Certificate, hosts: tuple[str, ...] = ()) -> None:
    try:
        cert = _load_cert(pki.certificate(name))
        if (_fresh(cert) and _signed_by(cert, ca_cert) and pki.key(name).is_file()
                and pki.keystore(name).is_file() and _names(cert) == set(hosts)):
            return
    except (OSError, ValueError):
        pass
    now = _now()
    _write_leaf(pki, name, ca_key, ca_cert, not_before=now - dt.timedelta(minutes=5),
                not_after=now + dt.timedelta(days=LEAF_DAYS), hosts=hosts)


def _write_leaf(pki: Pki, name: str, ca_key: ec.EllipticCurvePrivateKey,
                ca_cert: x509.Certificate, *, not_before: dt.datetime, not_after: dt.datetime,
                hosts: tuple[str, ...] = ()) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([
            x509.NameAttribute(NameOID.COMMON_NAME, name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "backbone"),
        ]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH,
                                   ExtendedKeyUsageOID.SERVER_AUTH]),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
    )
    if hosts:
        builder = builder.add_extension(x509.SubjectAlternativeName([_general_name(h)
                                                                     for h in hosts]),
                                        critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = _key_pem(key)
    _write_secret(pki.key(name), key_pem)
    pki.certificate(name).write_bytes(cert_pem)
    _write_secret(pki.keystore(name), key_pem + cert_pem)


def _general_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def _names(cert: x509.Certificate) -> set[str]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    return {str(ip) for ip in san.get_values_for_type(x509.IPAddress)} | set(
        san.get_values_for_type(x509.DNSName))


# -- files ----------------------------------------------------------------------------------


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _fresh(cert: x509.Certificate) -> bool:
    now = _now()
    return cert.not_valid_before_utc <= now and cert.not_valid_after_utc - RENEW_BEFORE > now


def _signed_by(cert: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _load_cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{path}: not an EC private key")
    return key


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    # PKCS#8: the one unencrypted layout Kafka's PEM key store reads.
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    _write_secret(path, _key_pem(key))


def _write_secret(path: Path, data: bytes) -> None:
    # Created 0600 from the start: a key is never readable by others, not even for a moment.
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
