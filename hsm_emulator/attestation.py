"""Trusted attestation authorities and the verification of secure-key-release target tokens.

The service fetches an authority's signing keys from its OpenID discovery document; the emulator
fetches nothing: it holds a list of trusted authorities, each an issuer URL with a local JWKS
(``--attestation-authority ISSUER=JWKS_FILE``, ``/_emulator/attestation/authorities``, kept in
``DIR/attestation-authorities.json``). A release target is accepted only when its ``iss`` is one of
them, its signature verifies with one of that authority's keys (``kid`` picks it when present) and
it is within ``nbf``/``exp``; unsigned (``alg: none``), foreign-signed or expired tokens are 400.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

from hsm_emulator.codec import b64url_decode
from hsm_emulator.errors import ApiError, bad_parameter
from hsm_emulator.jwk import CURVES
from hsm_emulator.storage_files import write_atomic

AUTHORITIES_FILE = "attestation-authorities.json"
CLOCK_SKEW_SECONDS = 300
_HASHES = {"256": hashes.SHA256, "384": hashes.SHA384, "512": hashes.SHA512}
_ALGORITHMS = {f"{family}{bits}" for family in ("RS", "PS", "ES") for bits in _HASHES}
_EC_CURVE_FOR_ALG = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}


def _normalize(issuer: str) -> str:
    return issuer.rstrip("/")


def _unverifiable(reason: str) -> ApiError:
    return bad_parameter(f"Target environment attestation statement cannot be verified: {reason}.")


@dataclass(frozen=True)
class Authority:
    """One trusted issuer and its public signing keys (JWKs)."""

    issuer: str
    keys: tuple[dict[str, Any], ...]

    def document(self) -> dict[str, Any]:
        """``{"issuer", "jwks": {"keys": [...]}}`` as the control endpoint shows it."""
        return {"issuer": self.issuer, "jwks": {"keys": list(self.keys)}}


def _public_key(jwk: dict[str, Any]) -> rsa.RSAPublicKey | ec.EllipticCurvePublicKey:
    """A public key object from an RSA or EC JWK; ValueError when it is not one."""
    kty = jwk.get("kty")
    if kty == "RSA":
        exponent = int.from_bytes(b64url_decode(jwk["e"], field="e"), "big")
        modulus = int.from_bytes(b64url_decode(jwk["n"], field="n"), "big")
        return rsa.RSAPublicNumbers(exponent, modulus).public_key()
    if kty == "EC" and jwk.get("crv") in CURVES:
        x = int.from_bytes(b64url_decode(jwk["x"], field="x"), "big")
        y = int.from_bytes(b64url_decode(jwk["y"], field="y"), "big")
        return ec.EllipticCurvePublicNumbers(x, y, CURVES[jwk["crv"]]).public_key()
    raise ValueError(f"unsupported JWK (kty {kty!r})")


def parse_authority(document: Any) -> Authority:
    """``{"issuer": "https://…", "jwks": {"keys": [...]}}`` → Authority; 400 when malformed."""
    if not isinstance(document, dict):
        raise bad_parameter('An authority is {"issuer": "https://…", "jwks": {"keys": [...]}}.')
    issuer, jwks = document.get("issuer"), document.get("jwks")
    if not isinstance(issuer, str) or not issuer.startswith("https://"):
        raise bad_parameter("An attestation authority's 'issuer' must be an https URL.")
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list) or not keys:
        raise bad_parameter(f"The JWKS of {issuer} needs a non-empty 'keys' list.")
    for jwk in keys:
        try:
            _public_key(jwk)
        except (ApiError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise bad_parameter(f"A key in the JWKS of {issuer} is invalid: {exc}") from exc
        if "d" in jwk or "p" in jwk:
            raise bad_parameter(f"The JWKS of {issuer} must hold public keys only.")
    return Authority(issuer=_normalize(issuer), keys=tuple(keys))


def parse_flag(value: str) -> Authority:
    """``ISSUER=JWKS_FILE`` (the ``--attestation-authority`` flag); ValueError when unusable."""
    issuer, separator, path = value.partition("=")
    if not separator or not path:
        raise ValueError("use ISSUER=JWKS_FILE, e.g. https://attest.example=jwks.json")
    try:
        jwks = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read the JWKS file {path}: {exc}") from exc
    try:
        return parse_authority({"issuer": issuer, "jwks": jwks})
    except ApiError as exc:
        raise ValueError(exc.message) from exc


def _verify_signature(alg: str, key: Any, signed: bytes, signature: bytes) -> bool:
    digest = _HASHES[alg[2:]]()
    try:
        if alg.startswith("ES"):
            if not isinstance(key, ec.EllipticCurvePublicKey):
                return False
            size = len(signature) // 2
            if len(signature) % 2 or size != (key.curve.key_size + 7) // 8:
                return False
            der = utils.encode_dss_signature(
                int.from_bytes(signature[:size], "big"), int.from_bytes(signature[size:], "big")
            )
            key.verify(der, signed, ec.ECDSA(digest))
            return True
        if not isinstance(key, rsa.RSAPublicKey):
            return False
        if alg.startswith("PS"):
            scheme: padding.AsymmetricPadding = padding.PSS(
                padding.MGF1(_HASHES[alg[2:]]()), padding.PSS.DIGEST_LENGTH
            )
        else:
            scheme = padding.PKCS1v15()
        key.verify(signature, signed, scheme, digest)
        return True
    except (InvalidSignature, ValueError):
        return False


def _split(token: str) -> tuple[dict[str, Any], dict[str, Any], bytes, bytes]:
    parts = token.split(".")
    if len(parts) != 3:
        raise _unverifiable("a JWT has three dot-separated parts")
    try:
        header = json.loads(b64url_decode(parts[0], field="header"))
        claims = json.loads(b64url_decode(parts[1], field="payload"))
        signature = b64url_decode(parts[2], field="signature")
    except (ApiError, ValueError, UnicodeDecodeError) as exc:
        raise _unverifiable("the token is not base64url JSON") from exc
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise _unverifiable("the token's header and payload must be JSON objects")
    return header, claims, f"{parts[0]}.{parts[1]}".encode("ascii"), signature


def _check_times(claims: dict[str, Any], now: float) -> None:
    expires, not_before = claims.get("exp"), claims.get("nbf")
    for name, value in (("exp", expires), ("nbf", not_before)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise _unverifiable(f"the '{name}' claim is not a number")
    if expires is None:
        raise _unverifiable("the token has no 'exp' claim")
    if expires <= now:
        raise _unverifiable("the token has expired")
    if not_before is not None and not_before > now + CLOCK_SKEW_SECONDS:
        raise _unverifiable("the token is not yet valid")


class AuthorityRegistry:
    """The trusted authorities of one emulator process; persisted in the data dir."""

    def __init__(self, data_dir: Path, flags: tuple[Authority, ...] = ()) -> None:
        self._path = data_dir / AUTHORITIES_FILE
        self._lock = threading.Lock()
        self._authorities: dict[str, Authority] = {}
        if self._path.is_file():
            for document in json.loads(self._path.read_text()).get("authorities", []):
                authority = parse_authority(document)
                self._authorities[authority.issuer] = authority
        if flags:
            self._store({**self._authorities, **{a.issuer: a for a in flags}})

    def _store(self, authorities: dict[str, Authority]) -> None:
        documents = [authorities[issuer].document() for issuer in sorted(authorities)]
        write_atomic(self._path, json.dumps({"authorities": documents}).encode())
        self._authorities = authorities

    def documents(self) -> list[dict[str, Any]]:
        """Every trusted authority, ordered by issuer."""
        with self._lock:
            return [self._authorities[issuer].document() for issuer in sorted(self._authorities)]

    def replace(self, authorities: list[Authority]) -> None:
        """Trust exactly these authorities (an empty list trusts none)."""
        with self._lock:
            self._store({a.issuer: a for a in authorities})

    def add(self, authority: Authority) -> None:
        """Trust one more authority (replacing the keys of the same issuer)."""
        with self._lock:
            self._store({**self._authorities, authority.issuer: authority})

    def verify(self, token: str, *, now: float) -> dict[str, Any]:
        """The claims of a target token signed by a trusted authority and valid at ``now``
        (real Unix time); 400 BadParameter naming the reason otherwise."""
        header, claims, signed, signature = _split(token)
        alg = header.get("alg")
        if not isinstance(alg, str) or alg.lower() == "none" or not signature:
            raise _unverifiable("the token is not signed")
        if alg not in _ALGORITHMS:
            raise _unverifiable(f"the signing algorithm {alg} is not supported")
        issuer = claims.get("iss")
        with self._lock:
            authority = self._authorities.get(_normalize(str(issuer)))
        if authority is None:
            raise _unverifiable(f"the issuer {issuer!r} is not a trusted attestation authority")
        kid = header.get("kid")
        candidates = [jwk for jwk in authority.keys if kid is None or jwk.get("kid") == kid]
        if not any(_verify_signature(alg, _public_key(k), signed, signature) for k in candidates):
            raise _unverifiable(f"the signature does not verify with a key of {authority.issuer}")
        _check_times(claims, now)
        return claims
