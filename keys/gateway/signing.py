"""HsmSigner: one HSM key used to sign, as one principal (the audit checkpoint signer).

Separate from `HsmGateway` on purpose: Keywarden's own identity manages keys but never uses
them; this one may only sign with (and read) a single key. Errors are `keys.gateway.errors`.
"""

from __future__ import annotations

from azure.keyvault.keys import KeyClient
from azure.keyvault.keys.crypto import CryptographyClient, SignatureAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec

from keys.gateway import translate
from keys.gateway.errors import HsmInvalid
from keys.gateway.retry import RetryPolicy
from keys.gateway.types import SignedDigest

_CURVES = {"P-256": ec.SECP256R1()}


class HsmSigner:
    """Signs SHA-256 digests with ES256 using the HSM key `key_name`. Thread-safe."""

    algorithm = "ES256"

    def __init__(
        self,
        *,
        url: str,
        credential,
        key_name: str,
        ca_file: str = "",
        verify_challenge_resource: bool = True,
        timeout: int = 30,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.key_name = key_name
        self._retry = retry or RetryPolicy()
        options = {
            "retry_total": 0,  # retries are ours (see keys.gateway.retry)
            "connection_timeout": min(10, timeout),
            "read_timeout": timeout,
            "verify_challenge_resource": verify_challenge_resource,
        }
        if ca_file:
            options["connection_verify"] = ca_file
        self._keys = KeyClient(self.url, credential, **options)
        # Without a version: the client reads the key once, so each signature names its version.
        self._crypto = CryptographyClient(f"{self.url}/keys/{key_name}", credential, **options)

    def _call(self, operation: str, fn):
        seen: dict[str, str] = {}

        def hook(pipeline_response) -> None:
            seen["id"] = pipeline_response.http_response.headers.get("x-ms-request-id", "")

        result = self._retry.run(
            lambda: fn({"raw_response_hook": hook}),
            idempotent=True,  # a repeated signature of the same digest changes nothing
            translate=lambda exc: translate.translate_error(exc, operation),
        )
        return result, seen.get("id", "")

    def sign_digest(self, digest: bytes) -> SignedDigest:
        """Sign a SHA-256 digest with the key's current version (ES256, raw r‖s)."""
        result, request_id = self._call(
            "key.sign",
            lambda hook: self._crypto.sign(SignatureAlgorithm.es256, digest, **hook),
        )
        return SignedDigest(
            key_id=result.key_id,
            algorithm=self.algorithm,
            signature=result.signature,
            request_id=request_id,
        )

    def get_public_key(self, version: str) -> ec.EllipticCurvePublicKey:
        """The public key of one version of the signing key. Raises HsmNotFound, HsmInvalid
        (not an EC P-256 key), HsmForbidden."""
        key, _ = self._call(
            "key.get", lambda hook: self._keys.get_key(self.key_name, version, **hook)
        )
        jwk = key.key
        curve = _CURVES.get(str(getattr(jwk.crv, "value", jwk.crv) or ""))
        if curve is None or not jwk.x or not jwk.y:
            raise HsmInvalid(f"{key.id} is not an EC P-256 key", operation="key.get")
        numbers = ec.EllipticCurvePublicNumbers(
            int.from_bytes(jwk.x, "big"), int.from_bytes(jwk.y, "big"), curve
        )
        return numbers.public_key()
