"""Public keys of asymmetric keys (RSA, EC), per version: read from the HSM through the gateway
each time (a public key is not secret, but what a consumer verifies with must be what the HSM
holds, so no stored copy can go stale), as JWK (public members and kid) or PEM
(SubjectPublicKeyInfo). Read-only: no audit event, nothing written."""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from accounts.models import User
from core.errors import Conflict, NotFound
from keys.gateway import HsmGateway, HsmNotFound, PublicKeyInfo, get_gateway
from keys.models import KeyState
from keys.selectors import key_detail_for

PUBLIC_KEY_FORMATS = ("jwk", "pem")
CURVES = {
    "P-256": ec.SECP256R1,
    "P-256K": ec.SECP256K1,
    "P-384": ec.SECP384R1,
    "P-521": ec.SECP521R1,
}


def read_public_key(
    *, user: User, name: str, version: str | None = None, gateway: HsmGateway | None = None
) -> PublicKeyInfo:
    """The public key of a live asymmetric key the user may see (`version` None: the current
    one), as the HSM returns it now. Raises NotFound (not visible, symmetric, no such version)
    or Conflict (the key is deleted); HsmError when the HSM cannot answer."""
    key = key_detail_for(user, name)
    if not key.has_public_key:
        raise NotFound(
            f"Key {key.name} is {key.kty or 'of unknown type'}: only RSA and EC keys "
            "have a public key."
        )
    if key.state != KeyState.ACTIVE:
        raise Conflict(
            f"Key {key.name} is {key.state}; its public key is readable once it is recovered."
        )
    if version is not None and version not in {v.version for v in key.versions.all()}:
        raise NotFound(f"Key {key.name} has no version {version} in the inventory.")
    try:
        public = (gateway or get_gateway()).get_public_key(key.name, version)
    except HsmNotFound as missing:
        raise NotFound(f"The HSM has no such key or version: {missing.message}") from missing
    if not public.jwk:
        raise NotFound(f"Key {key.name} has no public key in the HSM (it is symmetric).")
    return public


def _number(member: str) -> int:
    return int.from_bytes(base64.urlsafe_b64decode(member + "=" * (-len(member) % 4)), "big")


def public_key_pem(jwk: dict[str, str]) -> str:
    """The SubjectPublicKeyInfo PEM of a public JWK (RSA n/e, EC crv/x/y)."""
    if jwk["kty"] == "RSA":
        public = rsa.RSAPublicNumbers(_number(jwk["e"]), _number(jwk["n"])).public_key()
    else:
        curve = CURVES[jwk["crv"]]()
        public = ec.EllipticCurvePublicNumbers(
            _number(jwk["x"]), _number(jwk["y"]), curve
        ).public_key()
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
