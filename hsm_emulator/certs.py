"""Local CA and TLS server certificate: the CA persists in the data dir, the leaf is re-issued.

The CA is written as ``DIR/ca.pem`` before the server listens, so a client that sees the port
open can already trust it. The leaf is re-issued on every start so its SANs always include the
current ``--host``.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hsm_emulator.storage_files import write_atomic, write_private

_CA_DAYS = 3650
_LEAF_DAYS = 825


@dataclass(frozen=True)
class TlsMaterial:
    """Paths of the PEM files the server loads, plus the signing key used for release tokens."""

    ca_path: Path
    cert_path: Path
    key_path: Path
    signing_key: ec.EllipticCurvePrivateKey
    chain_der: tuple[bytes, ...]


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _load_or_create_ca(data_dir: Path) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key_path, ca_path = data_dir / "ca.key", data_dir / "ca.pem"
    if key_path.exists() and ca_path.exists():
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return key, x509.load_pem_x509_certificate(ca_path.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    start = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("hsm_emulator local CA"))
        .issuer_name(_name("hsm_emulator local CA"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=_CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    write_private(key_path, _pem_private(key))
    write_atomic(ca_path, cert.public_bytes(serialization.Encoding.PEM))
    return key, cert


def _pem_private(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _general_name(name: str) -> x509.GeneralName | None:
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return x509.DNSName(name) if name else None
    # An unspecified bind address (0.0.0.0, ::) is not a name anyone connects to.
    return None if address.is_unspecified else x509.IPAddress(address)


def _subject_alternative_names(names: list[str]) -> x509.SubjectAlternativeName:
    general: list[x509.GeneralName] = []
    for name in ["127.0.0.1", "localhost", *names]:
        entry = _general_name(name)
        if entry is not None and entry not in general:
            general.append(entry)
    return x509.SubjectAlternativeName(general)


def ensure_tls_material(
    data_dir: Path, host: str, server_names: tuple[str, ...] = ()
) -> TlsMaterial:
    """Create (or reuse) the CA, issue a fresh leaf for 127.0.0.1, localhost, ``host`` and
    ``server_names``; return the PEM paths."""
    ca_key, ca_cert = _load_or_create_ca(data_dir)
    key = ec.generate_private_key(ec.SECP256R1())
    start = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name(host or "localhost"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=_LEAF_DAYS))
        .add_extension(_subject_alternative_names([host, *server_names]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    cert_path, key_path = data_dir / "server.pem", data_dir / "server.key"
    write_private(key_path, _pem_private(key))
    write_atomic(
        cert_path,
        leaf.public_bytes(serialization.Encoding.PEM)
        + ca_cert.public_bytes(serialization.Encoding.PEM),
    )
    return TlsMaterial(
        ca_path=(data_dir / "ca.pem").resolve(),
        cert_path=cert_path,
        key_path=key_path,
        signing_key=key,
        chain_der=(
            leaf.public_bytes(serialization.Encoding.DER),
            ca_cert.public_bytes(serialization.Encoding.DER),
        ),
    )


def ensure_private_dir(path: Path) -> None:
    """Create the data dir (0700 when new) so key material is not world-readable."""
    path.mkdir(parents=True, exist_ok=True)
    if not any(path.iterdir()):
        os.chmod(path, 0o700)
