"""A holder's certificate as the portal reads it: PEM in, the SHA-256 thumbprint the HSM uses
(x5t#S256, base64url) and the expiry out — computed here, never typed by a person."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from core.errors import Invalid

MAX_PEM_LENGTH = 20_000
MIN_RSA_BITS = 2048


@dataclass(frozen=True)
class CertificateFacts:
    """What the register keeps of a certificate."""

    pem: str
    thumbprint: str
    expires_at: datetime
    subject: str
    der: bytes


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def read_certificate(pem: str, *, field: str, now: datetime) -> CertificateFacts:
    """The facts of one PEM certificate with an RSA key of at least 2048 bits, valid at `now`.
    Raises Invalid on `field` saying which rule failed."""
    try:
        certificate = x509.load_pem_x509_certificate(pem.strip().encode())
    except ValueError:
        raise Invalid(
            {field: ["Not a PEM certificate (-----BEGIN CERTIFICATE----- …)."]},
            "The certificate is not valid.",
        ) from None
    key = certificate.public_key()
    problems = []
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size < MIN_RSA_BITS:
        problems.append(f"The security domain needs an RSA key of at least {MIN_RSA_BITS} bits.")
    if certificate.not_valid_after_utc <= now:
        problems.append(f"The certificate expired on {certificate.not_valid_after_utc:%Y-%m-%d}.")
    if problems:
        raise Invalid({field: problems}, "The certificate is not valid.")
    der = certificate.public_bytes(serialization.Encoding.DER)
    return CertificateFacts(
        pem=certificate.public_bytes(serialization.Encoding.PEM).decode(),
        thumbprint=b64url(hashlib.sha256(der).digest()),
        expires_at=certificate.not_valid_after_utc,
        subject=certificate.subject.rfc4514_string(),
        der=der,
    )
