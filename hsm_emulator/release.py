"""Secure key release, simplified: evaluate the key's release policy against the claims of the
``target`` attestation token (verified first against the trusted authorities, attestation.py),
then answer with a signed JWS.

Policy grammar (subset of the service's): nodes with ``anyOf``/``allOf`` lists, an optional
``authority`` (must equal the token's ``iss``), and leaves ``{"claim": "a.b", "equals": value}``.
When the target token carries an RSA key in ``x-ms-runtime.keys``, the private key is wrapped to it
with the BYOK construction (``key_hsm``); otherwise only the public key is included.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa, utils

from hsm_emulator import byok
from hsm_emulator.codec import b64url_decode, b64url_encode
from hsm_emulator.crypto import LoadedKey
from hsm_emulator.errors import bad_parameter, forbidden

RELEASE_ENCRYPTIONS = ("CKM_RSA_AES_KEY_WRAP", "RSA_AES_KEY_WRAP_256", "RSA_AES_KEY_WRAP_384")
_MISSING = object()


def claim_value(claims: dict[str, Any], path: str) -> Any:
    """A claim by exact name, else by dotted path into nested objects."""
    if path in claims:
        return claims[path]
    node: Any = claims
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def evaluate(node: Any, claims: dict[str, Any]) -> bool:
    """True when the claims satisfy the policy node."""
    if not isinstance(node, dict):
        return False
    authority = node.get("authority")
    if authority and str(claims.get("iss", "")).rstrip("/") != str(authority).rstrip("/"):
        return False
    if "claim" in node:
        return claim_value(claims, str(node["claim"])) == node.get("equals", _MISSING)
    if "anyOf" in node:
        return any(evaluate(child, claims) for child in node["anyOf"] or [])
    if "allOf" in node:
        return all(evaluate(child, claims) for child in node["allOf"] or [])
    return False


def target_token(target: Any) -> str:
    """The release ``target`` (an attestation token); 400 when it is missing."""
    if not isinstance(target, str) or not target:
        raise bad_parameter("The parameter 'target' (an attestation token) is required.")
    return target


def check_policy(release_policy: dict[str, Any] | None, claims: dict[str, Any]) -> None:
    """403 Forbidden unless the key's release policy accepts the claims."""
    if release_policy is None:
        raise forbidden("The key has no release policy.", inner="KeyNotExportable")
    document = json.loads(b64url_decode(release_policy["data"], field="release_policy.data"))
    if not evaluate(document, claims):
        raise forbidden(
            "The target attestation does not satisfy the key release policy.",
            inner="ReleasePolicyNotSatisfied",
        )


def _runtime_key(claims: dict[str, Any]) -> rsa.RSAPublicKey | None:
    keys = claim_value(claims, "x-ms-runtime.keys")
    for jwk in keys if isinstance(keys, list) else []:
        if isinstance(jwk, dict) and jwk.get("kty") in ("RSA", "RSA-HSM"):
            numbers = rsa.RSAPublicNumbers(
                int.from_bytes(b64url_decode(jwk["e"], field="e"), "big"),
                int.from_bytes(b64url_decode(jwk["n"], field="n"), "big"),
            )
            return numbers.public_key()
    return None


def _private_bytes(loaded: LoadedKey) -> bytes:
    key = loaded.private_key_object()
    if isinstance(key, bytes):
        return key
    return key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def released_key(
    key_document: dict[str, Any], loaded: LoadedKey, claims: dict[str, Any], enc: str
) -> dict[str, Any]:
    """The JWK to release: public members plus ``key_hsm`` wrapped to the runtime key if any."""
    if enc not in RELEASE_ENCRYPTIONS:
        raise bad_parameter(f"Invalid release encryption (enc): {enc}")
    runtime = _runtime_key(claims)
    if runtime is None:
        return key_document
    wrapped = byok.wrap(runtime, _private_bytes(loaded), enc)
    envelope = byok.envelope(key_document["kid"], wrapped, enc)
    return {**key_document, "key_hsm": b64url_encode(json.dumps(envelope).encode())}


def sign_jws(
    payload: dict[str, Any], signing_key: ec.EllipticCurvePrivateKey, chain_der: tuple[bytes, ...]
) -> str:
    """Compact ES256 JWS with the emulator's TLS chain in ``x5c``."""
    header = {
        "alg": "ES256",
        "typ": "JWT",
        "x5c": [base64.b64encode(cert).decode() for cert in chain_der],
    }
    signing_input = ".".join(
        b64url_encode(json.dumps(part, separators=(",", ":")).encode())
        for part in (header, payload)
    )
    der = signing_key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
    r, s = utils.decode_dss_signature(der)
    return f"{signing_input}.{b64url_encode(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def release_payload(
    bundle: dict[str, Any], request: dict[str, Any], issuer: str, *, issued: int
) -> dict[str, Any]:
    """The JWS payload (valid 5 minutes from ``issued``): the request echo and the key bundle."""
    return {
        "iss": issuer,
        "iat": issued,
        "nbf": issued,
        "exp": issued + 300,
        "request": request,
        "response": {"key": bundle},
    }
