"""JSON Web Key conversions (key objects ↔ JWK members) and the service's key-type vocabulary."""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, rsa

from hsm_emulator.codec import b64url_decode, b64url_encode
from hsm_emulator.errors import bad_parameter

# Managed HSM keys are hardware keys: the soft kty names are accepted and reported as -HSM.
KTY_FAMILY = {
    "RSA": "RSA",
    "RSA-HSM": "RSA",
    "EC": "EC",
    "EC-HSM": "EC",
    "oct": "oct",
    "oct-HSM": "oct",
}
FAMILY_KTY = {"RSA": "RSA-HSM", "EC": "EC-HSM", "oct": "oct-HSM"}
CURVES: dict[str, ec.EllipticCurve] = {
    "P-256": ec.SECP256R1(),
    "P-256K": ec.SECP256K1(),
    "P-384": ec.SECP384R1(),
    "P-521": ec.SECP521R1(),
}
CURVE_BY_OPENSSL_NAME = {curve.name: name for name, curve in CURVES.items()}
ALL_KEY_OPS = ("encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey", "import", "export")
FAMILY_KEY_OPS = {
    "RSA": frozenset(ALL_KEY_OPS),
    "EC": frozenset({"sign", "verify", "export"}),
    "oct": frozenset({"encrypt", "decrypt", "wrapKey", "unwrapKey", "export"}),
}
DEFAULT_KEY_OPS = {
    "RSA": ["encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey"],
    "EC": ["sign", "verify"],
    "oct": ["encrypt", "decrypt", "wrapKey", "unwrapKey"],
}


def family_of(kty: Any) -> str:
    """RSA / EC / oct for a wire kty; 400 BadParameter (KeyTypeNotSupported) otherwise."""
    family = KTY_FAMILY.get(kty) if isinstance(kty, str) else None
    if family is None:
        raise bad_parameter(f"Invalid kty value: {kty}", inner="KeyTypeNotSupported")
    return family


def _int_bytes(value: int, length: int | None = None) -> bytes:
    size = length or max(1, (value.bit_length() + 7) // 8)
    return value.to_bytes(size, "big")


def coordinate_size(curve_name: str) -> int:
    """Bytes per EC coordinate (fixed length, big-endian) for a JWK curve name."""
    return (CURVES[curve_name].key_size + 7) // 8


def public_fields(public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey) -> dict[str, str]:
    """The public JWK members the service returns: n/e for RSA, crv/x/y for EC."""
    if isinstance(public_key, rsa.RSAPublicKey):
        numbers = public_key.public_numbers()
        return {
            "n": b64url_encode(_int_bytes(numbers.n)),
            "e": b64url_encode(_int_bytes(numbers.e)),
        }
    curve = CURVE_BY_OPENSSL_NAME[public_key.curve.name]
    point = public_key.public_numbers()
    size = coordinate_size(curve)
    return {
        "crv": curve,
        "x": b64url_encode(_int_bytes(point.x, size)),
        "y": b64url_encode(_int_bytes(point.y, size)),
    }


def _jwk_int(jwk: dict[str, Any], name: str) -> int:
    value = jwk.get(name)
    if value is None:
        raise bad_parameter(f"The JSON web key is missing the '{name}' parameter.")
    return int.from_bytes(b64url_decode(value, field=name), "big")


def rsa_private_from_jwk(jwk: dict[str, Any]) -> rsa.RSAPrivateKey:
    """An RSA private key from JWK members; CRT members are derived when absent."""
    n, e, d = _jwk_int(jwk, "n"), _jwk_int(jwk, "e"), _jwk_int(jwk, "d")
    try:
        if jwk.get("p") and jwk.get("q"):
            p, q = _jwk_int(jwk, "p"), _jwk_int(jwk, "q")
        else:
            p, q = rsa.rsa_recover_prime_factors(n, e, d)
        numbers = rsa.RSAPrivateNumbers(
            p=p,
            q=q,
            d=d,
            dmp1=rsa.rsa_crt_dmp1(d, p),
            dmq1=rsa.rsa_crt_dmq1(d, q),
            iqmp=rsa.rsa_crt_iqmp(p, q),
            public_numbers=rsa.RSAPublicNumbers(e, n),
        )
        return numbers.private_key()
    except ValueError as exc:
        raise bad_parameter(f"The RSA key parameters are inconsistent: {exc}") from exc


def ec_private_from_jwk(jwk: dict[str, Any]) -> ec.EllipticCurvePrivateKey:
    """An EC private key from crv/x/y/d; the public point must match d."""
    curve_name = jwk.get("crv")
    if curve_name not in CURVES:
        raise bad_parameter(f"Invalid curve name: {curve_name}", inner="CurveNotSupported")
    try:
        key = ec.derive_private_key(_jwk_int(jwk, "d"), CURVES[curve_name])
    except ValueError as exc:
        raise bad_parameter(f"The EC private key is invalid: {exc}") from exc
    if jwk.get("x") and jwk.get("y"):
        expected = public_fields(key.public_key())
        given = {
            "x": _int_bytes(_jwk_int(jwk, "x"), coordinate_size(curve_name)),
            "y": _int_bytes(_jwk_int(jwk, "y"), coordinate_size(curve_name)),
        }
        if b64url_encode(given["x"]) != expected["x"] or b64url_encode(given["y"]) != expected["y"]:
            raise bad_parameter("The EC public point (x, y) does not match the private key d.")
    return key


def oct_from_jwk(jwk: dict[str, Any]) -> bytes:
    """The AES key bytes of an oct JWK (16, 24 or 32 bytes)."""
    if jwk.get("k") is None:
        raise bad_parameter("The JSON web key is missing the 'k' parameter.")
    secret = b64url_decode(jwk["k"], field="k")
    if len(secret) not in (16, 24, 32):
        raise bad_parameter(f"Invalid oct key size: {len(secret) * 8} bits.")
    return secret
