"""A local attestation authority for tests and the demo: issues signed release target tokens.

    authority = LocalAttestationAuthority("https://attest.emulator.test")
    hsm.trust_attestation_authority(authority.issuer, authority.jwks())
    target = authority.issue({"x-ms-attestation-type": "sevsnpvm", ...})
    keys.release_key(name, target)

It plays Microsoft Azure Attestation's part: RS256 tokens with ``iss``, ``iat``, ``nbf``, ``exp``
and a ``kid`` naming the signing key in its JWKS. Never trust it outside tests and the demo.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

DEFAULT_ISSUER = "https://attest.emulator.test"
DEFAULT_LIFETIME_SECONDS = 600


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_int(value: int) -> str:
    return _b64url(value.to_bytes((value.bit_length() + 7) // 8, "big"))


class LocalAttestationAuthority:
    """An issuer URL with one RSA signing key; ``jwks()`` is what the emulator must trust."""

    def __init__(self, issuer: str = DEFAULT_ISSUER, *, key_id: str | None = None) -> None:
        self.issuer = issuer.rstrip("/")
        self.key_id = key_id or uuid.uuid4().hex
        self._key = rsa.generate_private_key(65537, 2048)

    def jwks(self) -> dict[str, Any]:
        """The public signing key as a JWKS document."""
        numbers = self._key.public_key().public_numbers()
        jwk = {
            "kty": "RSA",
            "kid": self.key_id,
            "use": "sig",
            "alg": "RS256",
            "n": _b64url_int(numbers.n),
            "e": _b64url_int(numbers.e),
        }
        return {"keys": [jwk]}

    def issue(
        self,
        claims: dict[str, Any],
        *,
        lifetime_seconds: int = DEFAULT_LIFETIME_SECONDS,
        now: float | None = None,
    ) -> str:
        """A compact RS256 JWT of ``claims`` plus ``iss``/``iat``/``nbf``/``exp`` (``now`` = real
        Unix time unless given; claims passed in win, so a test can make an expired token)."""
        issued = int(time.time() if now is None else now)
        payload = {
            "iss": self.issuer,
            "iat": issued,
            "nbf": issued,
            "exp": issued + lifetime_seconds,
            **claims,
        }
        header = {"alg": "RS256", "typ": "JWT", "kid": self.key_id, "jku": f"{self.issuer}/certs"}
        signing_input = ".".join(
            _b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, payload)
        )
        signature = self._key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64url(signature)}"
