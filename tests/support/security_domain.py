"""The key holders' side of a security domain, written independently of the emulator's code:
certificates for a download, and the restore blob an upload carries, made the way
``az keyvault security-domain restore-blob`` makes it (JOSE through jwcrypto, Shamir over
GF(257) and the SP 800-108 KDF re-implemented here)."""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from typing import Any

from azure.keyvault.securitydomain.models import CertificateInfo, SecurityDomainJsonWebKey
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from jwcrypto import jwe, jwk

PRIME = 257


@dataclass(frozen=True)
class KeyHolder:
    """One custodian's RSA key pair and self-signed certificate."""

    private_key: rsa.RSAPrivateKey
    certificate: x509.Certificate

    @property
    def der(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.DER)

    @property
    def thumbprint(self) -> str:
        return b64url(hashlib.sha256(self.der).digest())


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_holder(name: str, bits: int = 2048) -> KeyHolder:
    """A fresh key pair with a self-signed certificate (as ``openssl req -x509`` would make)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return KeyHolder(key, certificate)


def security_domain_jwk(holder: KeyHolder) -> SecurityDomainJsonWebKey:
    """The SecurityDomainJsonWebKey of a holder's certificate."""
    numbers = holder.private_key.public_key().public_numbers()
    return SecurityDomainJsonWebKey(
        kid=holder.certificate.subject.rfc4514_string(),
        kty="RSA",
        key_ops=["verify", "encrypt", "wrapKey"],
        n=b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
        e=b64url(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")),
        x5_c=[base64.b64encode(holder.der).decode()],
        alg="RSA-OAEP-256",
        x5_t=b64url(hashlib.sha1(holder.der).digest()),  # noqa: S324 - the x5t thumbprint
        x5_t_s256=holder.thumbprint,
    )


def certificate_info(holders: list[KeyHolder], required: int) -> CertificateInfo:
    """The body of a download."""
    return CertificateInfo(
        certificates=[security_domain_jwk(holder) for holder in holders], required=required
    )


def kdf(key: bytes, label: str, context: str = "", bits: int = 512) -> bytes:
    """SP 800-108 counter mode, HMAC-SHA512 (one block is enough up to 512 bits)."""
    message = (1).to_bytes(4, "big") + label.encode() + b"\0" + context.encode()
    return hmac.new(key, message + bits.to_bytes(4, "big"), hashlib.sha512).digest()[: bits // 8]


def unwrap_share(holder: KeyHolder, enc_key: str) -> bytes:
    """A share's bytes, decrypted with the holder's private key by jwcrypto."""
    token = jwe.JWE()
    token.deserialize(enc_key, key=jwk.JWK.from_pyca(holder.private_key))
    return token.payload


def combine(shares: list[bytes]) -> bytes:
    """Lagrange interpolation at 0 over GF(257) of 16-bit words ``(x << 9) | y``."""
    words = [
        [int.from_bytes(share[i : i + 2], "little") for i in range(0, len(share), 2)]
        for share in shares
    ]
    secret = bytearray()
    for column in zip(*words, strict=True):
        points = [(word >> 9, word & 0x1FF) for word in column]
        total = 0
        for i, (xi, yi) in enumerate(points):
            numerator = denominator = 1
            for j, (xj, _) in enumerate(points):
                if i != j:
                    numerator = numerator * xj % PRIME
                    denominator = denominator * (xj - xi) % PRIME
            total = (total + yi * numerator * pow(denominator, PRIME - 2, PRIME)) % PRIME
        secret.append(total & 0xFF)
    return bytes(secret)


def _dir_decrypt(key: bytes, compact: str) -> bytes:
    token = jwe.JWE()
    token.deserialize(compact, key=jwk.JWK(kty="oct", k=b64url(key)))
    return token.payload


def _dir_encrypt(key: bytes, plaintext: bytes, tag: str) -> str:
    header = {"alg": "dir", "enc": "A256CBC-HS512", "kid": tag}
    token = jwe.JWE(plaintext, protected=json.dumps(header))
    token.add_recipient(jwk.JWK(kty="oct", k=b64url(key)))
    return token.serialize(compact=True)


def restore_blob(
    security_domain: str,
    transfer_key: dict[str, Any],
    holders: list[KeyHolder],
    *,
    rekey: bool = True,
) -> str:
    """The ``value`` of an upload: the holders' shares combined into the master key, the data
    re-encrypted under a fresh one (``rekey``, like the CLI) or passed through as downloaded,
    and the key in use wrapped (RSA-OAEP-256) to the new HSM's transfer key certificate."""
    document = json.loads(security_domain)
    by_thumbprint = {s["x5t_256"]: s["enc_key"] for s in document["SharedKeys"]["enc_shares"]}
    master = combine([unwrap_share(h, by_thumbprint[h.thumbprint]) for h in holders])
    enc_data = document["EncData"]
    if rekey:
        fresh = os.urandom(32)
        data = [
            {
                "compact_jwe": _dir_encrypt(
                    kdf(fresh, datum["tag"]),
                    _dir_decrypt(kdf(master, datum["tag"]), datum["compact_jwe"]),
                    datum["tag"],
                ),
                "tag": datum["tag"],
            }
            for datum in enc_data["data"]
        ]
        enc_data, master = {"data": data, "kdf": enc_data["kdf"]}, fresh
    exchange = x509.load_der_x509_certificate(base64.b64decode(transfer_key["x5c"][0]))
    wrapped = jwe.JWE(master, protected=json.dumps({"alg": "RSA-OAEP-256", "enc": "A256CBC-HS512"}))
    wrapped.add_recipient(jwk.JWK.from_pyca(exchange.public_key()))
    thumbprint = b64url(hashlib.sha256(exchange.public_bytes(serialization.Encoding.DER)).digest())
    return json.dumps(
        {
            "EncData": enc_data,
            "WrappedKey": {"enc_key": wrapped.serialize(compact=True), "x5t_256": thumbprint},
        }
    )
