"""Unsigned bearer tokens (JWT, ``alg: none``): minted by EmulatorCredential, read by the server.

The emulator trusts the claims without a signature, which is the point: tests choose who they are
by object id. It still refuses what the real service refuses: malformed tokens, a foreign audience,
expired or not-yet-valid tokens, tokens without an ``oid``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from hsm_emulator import RESOURCE
from hsm_emulator.codec import b64url_decode, b64url_encode
from hsm_emulator.errors import ApiError, unauthorized

ACCEPTED_AUDIENCES = frozenset({RESOURCE, RESOURCE + "/"})
CLOCK_SKEW_SECONDS = 300


def encode_unsigned_jwt(claims: dict[str, Any]) -> str:
    """Compact JWT with header ``{"alg": "none", "typ": "JWT"}`` and an empty signature."""
    header = b64url_encode(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    payload = b64url_encode(json.dumps(claims, separators=(",", ":")).encode())
    return f"{header}.{payload}."


def decode_unverified_jwt(token: str) -> dict[str, Any]:
    """Claims of a compact JWT without checking any signature; ValueError when malformed."""
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError("a JWT has three dot-separated parts")
    try:
        header = json.loads(b64url_decode(parts[0], field="header"))
        claims = json.loads(b64url_decode(parts[1], field="payload"))
    except (ApiError, ValueError, UnicodeDecodeError) as exc:
        raise ValueError("the JWT header or payload is not base64url JSON") from exc
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise ValueError("the JWT header and payload must be JSON objects")
    return claims


@dataclass(frozen=True)
class Caller:
    """The authenticated principal of one request."""

    object_id: str
    tenant_id: str | None


def _numeric(claims: dict[str, Any], name: str) -> int | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise unauthorized(f"AKV10022: Invalid token: claim '{name}' is not a number.")
    return int(value)


def authenticate(authorization: str, *, now: float | None = None) -> Caller:
    """Validate an ``Authorization: Bearer <jwt>`` value; ApiError 401 when unacceptable."""
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("AKV10000: Request is missing a Bearer or PoP token.")
    try:
        claims = decode_unverified_jwt(token.strip())
    except ValueError as exc:
        raise unauthorized(f"AKV10022: Invalid token: {exc}.") from exc
    moment = time.time() if now is None else now
    audience = claims.get("aud")
    if audience not in ACCEPTED_AUDIENCES:
        raise unauthorized(f"AKV10022: Invalid audience. Expected {RESOURCE}, found: {audience}.")
    expires, not_before = _numeric(claims, "exp"), _numeric(claims, "nbf")
    if expires is None or expires <= moment:
        raise unauthorized("AKV10022: Invalid token: the token has expired.")
    if not_before is not None and not_before > moment + CLOCK_SKEW_SECONDS:
        raise unauthorized("AKV10022: Invalid token: the token is not yet valid.")
    object_id = claims.get("oid")
    if not isinstance(object_id, str) or not object_id:
        raise unauthorized("AKV10022: Invalid token: the 'oid' claim is missing.")
    tenant = claims.get("tid")
    return Caller(object_id=object_id, tenant_id=tenant if isinstance(tenant, str) else None)
