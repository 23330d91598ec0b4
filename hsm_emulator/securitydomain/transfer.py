"""The HSM's security domain transfer key: an RSA key and self-signed certificate kept (0600) in
the data dir, which an upload's wrapped key must be encrypted to."""

from __future__ import annotations

import base64
import datetime
import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from hsm_emulator.codec import b64url_encode
from hsm_emulator.storage_files import write_private

TRANSFER_KEY_FILE = "securitydomain-transfer.pem"
_KEY_BITS = 3072
_DAYS = 3650


@dataclass(frozen=True)
class TransferKey:
    """The private key, its certificate, and the certificate's SHA-256 thumbprint (base64url)."""

    private_key: rsa.RSAPrivateKey
    certificate: x509.Certificate

    @property
    def der(self) -> bytes:
        """The certificate in DER."""
        return self.certificate.public_bytes(serialization.Encoding.DER)

    @property
    def thumbprint(self) -> str:
        """x5t#S256 of the certificate, as the upload's ``WrappedKey.x5t_256`` names it."""
        return b64url_encode(hashlib.sha256(self.der).digest())

    def jwk(self) -> dict[str, Any]:
        """The SecurityDomainJsonWebKey of ``GET /securitydomain/upload``."""
        numbers = self.private_key.public_key().public_numbers()
        return {
            "kid": self.thumbprint,
            "kty": "RSA",
            "key_ops": ["wrapKey", "encrypt"],
            "n": b64url_encode(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
            "e": b64url_encode(numbers.e.to_bytes((numbers.e.bit_length() + 7) // 8, "big")),
            "x5c": [base64.b64encode(self.der).decode("ascii")],
            "use": "enc",
            "x5t#S256": self.thumbprint,
            "alg": "RSA-OAEP-256",
        }


class TransferKeyFile:
    """Loads the transfer key from the data dir, creating it on first use."""

    def __init__(self, data_dir: Path) -> None:
        self._path = data_dir / TRANSFER_KEY_FILE
        self._lock = threading.Lock()
        self._key: TransferKey | None = None

    def get(self) -> TransferKey:
        """The transfer key (generated and written once)."""
        with self._lock:
            if self._key is None:
                self._key = self._load() if self._path.exists() else self._create()
            return self._key

    def _load(self) -> TransferKey:
        data = self._path.read_bytes()
        key = serialization.load_pem_private_key(data, password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise RuntimeError(f"{self._path} does not hold an RSA private key")
        return TransferKey(key, x509.load_pem_x509_certificate(data))

    def _create(self) -> TransferKey:
        key = rsa.generate_private_key(public_exponent=65537, key_size=_KEY_BITS)
        name = x509.Name(
            [x509.NameAttribute(NameOID.COMMON_NAME, "hsm_emulator security domain transfer key")]
        )
        start = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + datetime.timedelta(days=_DAYS))
            .sign(key, hashes.SHA256())
        )
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ) + certificate.public_bytes(serialization.Encoding.PEM)
        write_private(self._path, pem)
        return TransferKey(key, certificate)
