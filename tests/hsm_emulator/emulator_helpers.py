"""Independent checks for the conformance tests: local public keys, verification, error codes.

Nothing here uses the emulator's own code, so a test cannot pass because both sides share a bug.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any

from azure.core.exceptions import HttpResponseError
from azure.keyvault.keys import JsonWebKey
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

from hsm_emulator.client.testing import make_clients

ADMIN = "00000000-0000-0000-0000-00000000a001"  # the emulator's default initial administrator
USER = "10000000-0000-0000-0000-000000000001"  # Managed HSM Crypto User at /
OFFICER = "20000000-0000-0000-0000-000000000002"  # Managed HSM Crypto Officer at /
REMOTE = "30000000-0000-0000-0000-000000000003"  # custom role: crypto use without keys/read
CRYPTO_USER_ROLE = "21dbd100-6940-42c2-9190-5d6cb909625b"
CRYPTO_OFFICER_ROLE = "515eb02d-2335-4d2d-92f2-b1cbdf9c3778"
ROLE_ID_PREFIX = "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/"
CURVES = {
    "P-256": ec.SECP256R1(),
    "P-256K": ec.SECP256K1(),
    "P-384": ec.SECP384R1(),
    "P-521": ec.SECP521R1(),
}
HASHES = {"256": hashlib.sha256, "384": hashlib.sha384, "512": hashlib.sha512}
CRYPTO_HASHES = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}


def error_code(error: HttpResponseError) -> str:
    """The ``error.code`` of the service's JSON error body."""
    return error.response.json()["error"]["code"]


def inner_code(error: HttpResponseError) -> str:
    """The ``error.innererror.code`` of the service's JSON error body."""
    return error.response.json()["error"]["innererror"]["code"]


def b64url(data: bytes) -> str:
    """Base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_json(document: Any) -> str:
    """Base64url of a compact JSON document."""
    return b64url(json.dumps(document).encode())


def unb64url(text: str) -> bytes:
    """Decode base64url with or without padding."""
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def public_key(jwk: JsonWebKey) -> rsa.RSAPublicKey | ec.EllipticCurvePublicKey:
    """A cryptography public key from the JWK the emulator returned."""
    if jwk.n:
        numbers = rsa.RSAPublicNumbers(int.from_bytes(jwk.e, "big"), int.from_bytes(jwk.n, "big"))
        return numbers.public_key()
    point = ec.EllipticCurvePublicNumbers(
        int.from_bytes(jwk.x, "big"), int.from_bytes(jwk.y, "big"), CURVES[jwk.crv]
    )
    return point.public_key()


def _bits(alg: str) -> str:
    found = re.search(r"(256|384|512)", alg)
    return found.group(1) if found else "256"


def digest(alg: str, message: bytes) -> bytes:
    """The digest the algorithm signs (RSNULL: a SHA-256 digest, signed without DigestInfo)."""
    return HASHES[_bits(alg)](message).digest()


def verify_locally(key: Any, alg: str, digest_value: bytes, signature: bytes) -> None:
    """Raise cryptography's InvalidSignature unless the signature is valid."""
    bits = _bits(alg)
    if alg.startswith("ES"):
        size = len(signature) // 2
        der = utils.encode_dss_signature(
            int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
        )
        prehashed = utils.Prehashed(CRYPTO_HASHES[bits]())
        key.verify(der, digest_value, ec.ECDSA(prehashed))
    elif alg == "RSNULL":
        key.verify(signature, digest_value, padding.PKCS1v15(), utils.NoDigestInfo())
    elif alg.startswith("PS"):
        scheme = padding.PSS(padding.MGF1(CRYPTO_HASHES[bits]()), padding.PSS.AUTO)
        key.verify(signature, digest_value, scheme, utils.Prehashed(CRYPTO_HASHES[bits]()))
    else:
        prehashed = utils.Prehashed(CRYPTO_HASHES[bits]())
        key.verify(signature, digest_value, padding.PKCS1v15(), prehashed)


def rsa_padding(alg: str) -> padding.AsymmetricPadding:
    """The padding for an RSA encryption algorithm name."""
    if alg == "RSA1_5":
        return padding.PKCS1v15()
    algorithm = hashes.SHA256() if alg == "RSA-OAEP-256" else hashes.SHA1()  # noqa: S303
    return padding.OAEP(padding.MGF1(algorithm), algorithm, None)


def unsigned_jwt(claims: dict[str, Any]) -> str:
    """An unsigned JWT (alg none) written independently of the emulator's own helper."""
    return f"{b64url_json({'alg': 'none', 'typ': 'JWT'})}.{b64url_json(claims)}."


def grant_test_roles(process: Any) -> None:
    """Give USER Crypto User and OFFICER Crypto Officer at ``/`` on an emulator process."""

    admin = make_clients(process.url, process.ca_path, ADMIN).access_control
    admin.create_role_assignment("/", ROLE_ID_PREFIX + CRYPTO_USER_ROLE, USER)
    admin.create_role_assignment("/", ROLE_ID_PREFIX + CRYPTO_OFFICER_ROLE, OFFICER)


def rsa_jwk(private: rsa.RSAPrivateKey, **extra: Any) -> JsonWebKey:
    """A full private RSA JWK (n, e, d, p, q, dp, dq, qi) for a plain import."""
    numbers = private.private_numbers()
    as_bytes = {
        "n": numbers.public_numbers.n,
        "e": numbers.public_numbers.e,
        "d": numbers.d,
        "p": numbers.p,
        "q": numbers.q,
        "dp": numbers.dmp1,
        "dq": numbers.dmq1,
        "qi": numbers.iqmp,
    }
    fields = {k: v.to_bytes((v.bit_length() + 7) // 8, "big") for k, v in as_bytes.items()}
    return JsonWebKey(kty="RSA", **fields, **extra)


def ec_jwk(private: ec.EllipticCurvePrivateKey, crv: str = "P-256", **extra: Any) -> JsonWebKey:
    """A private EC JWK (crv, x, y, d) for a plain import."""
    size = (private.curve.key_size + 7) // 8
    numbers = private.private_numbers()
    return JsonWebKey(
        kty="EC",
        crv=crv,
        x=numbers.public_numbers.x.to_bytes(size, "big"),
        y=numbers.public_numbers.y.to_bytes(size, "big"),
        d=numbers.private_value.to_bytes(size, "big"),
        **extra,
    )
