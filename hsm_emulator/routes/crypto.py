"""Cryptographic operation routes: sign/verify, encrypt/decrypt, wrap/unwrap, rng, release,
attestation. All run with real cryptography on the stored private material."""

from __future__ import annotations

import json
import os
import time
from typing import Any

from hsm_emulator import release
from hsm_emulator.codec import b64url_decode, b64url_encode, optional_int
from hsm_emulator.errors import bad_parameter, forbidden
from hsm_emulator.routes import render
from hsm_emulator.routes.usage import require_usable
from hsm_emulator.store import KeyVersion
from hsm_emulator.wire import Request, Response

# URL operation → (key_ops entry, RBAC data action)
OPERATIONS = {
    "encrypt": ("encrypt", "keys/encrypt/action"),
    "decrypt": ("decrypt", "keys/decrypt/action"),
    "sign": ("sign", "keys/sign/action"),
    "verify": ("verify", "keys/verify/action"),
    "wrapkey": ("wrapKey", "keys/wrap/action"),
    "unwrapkey": ("unwrapKey", "keys/unwrap/action"),
}


def _binary(body: dict[str, Any], field: str, *, required: bool = False) -> bytes | None:
    value = body.get(field)
    if value is None:
        if required:
            raise bad_parameter(f"The parameter '{field}' is required.")
        return None
    return b64url_decode(value, field=field)


def _algorithm(body: dict[str, Any]) -> str:
    alg = body.get("alg")
    if not isinstance(alg, str) or not alg:
        raise bad_parameter("The parameter 'alg' is required.")
    return alg


def _usable(app: Any, params: dict[str, str], operation: str) -> KeyVersion:
    key = app.store.keys.get(params["name"], params.get("version") or None)
    require_usable(key, operation, now=app.clock.now(), key_op=OPERATIONS[operation][0])
    return key


def key_operation(app: Any, request: Request, params: dict[str, str]) -> Response:
    """POST /keys/{name}/{version}/{encrypt|decrypt|sign|verify|wrapkey|unwrapkey}."""
    operation = params["op"].lower()
    body = request.json()
    alg = _algorithm(body)
    key = _usable(app, params, operation)
    loaded = app.store.keys.loaded(key)
    kid = render.key_id(request, key.name, key.version)
    value = _binary(body, "value", required=True)
    assert value is not None
    if operation == "verify":
        digest = _binary(body, "digest", required=True)
        assert digest is not None
        return Response(200, {"value": loaded.verify(alg, digest, value)})
    if operation == "sign":
        return Response(200, {"kid": kid, "value": b64url_encode(loaded.sign(alg, value))})
    if operation == "encrypt":
        result = loaded.encrypt(alg, value, _binary(body, "iv"), _binary(body, "aad"))
        return Response(200, {"kid": kid, **{k: b64url_encode(v) for k, v in result.items()}})
    if operation == "decrypt":
        plain = loaded.decrypt(
            alg, value, _binary(body, "iv"), _binary(body, "tag"), _binary(body, "aad")
        )
        return Response(200, {"kid": kid, "value": b64url_encode(plain)})
    if operation == "wrapkey":
        return Response(200, {"kid": kid, "value": b64url_encode(loaded.wrap(alg, value))})
    return Response(200, {"kid": kid, "value": b64url_encode(loaded.unwrap(alg, value))})


def random_bytes(app: Any, request: Request, params: dict[str, str]) -> Response:
    """POST /rng: 1-128 random bytes."""
    count = optional_int(request.json().get("count"), "count")
    if count is None or not 1 <= count <= 128:
        raise bad_parameter("The parameter 'count' must be an integer between 1 and 128.")
    return Response(200, {"value": b64url_encode(os.urandom(count))})


def release_key(app: Any, request: Request, params: dict[str, str]) -> Response:
    """POST /keys/{name}/{version}/release: policy-checked release as a signed JWS; the target
    must be signed by a trusted attestation authority (checked against real time, as its
    issuer stamps it)."""
    body = request.json()
    target = release.target_token(body.get("target"))
    enc = body.get("enc") or "CKM_RSA_AES_KEY_WRAP"
    key = app.store.keys.get(params["name"], params.get("version") or None)
    require_usable(key, "release", now=app.clock.now())
    if not key.exportable:
        raise forbidden(f"Key {key.name} is not exportable.", inner="KeyNotExportable")
    claims = app.attestation.verify(target, now=time.time())
    release.check_policy(key.release_policy, claims)
    bundle = render.key_bundle(app, request, key)
    bundle["key"] = release.released_key(bundle["key"], app.store.keys.loaded(key), claims, enc)
    echo = {
        "api-version": request.query.get("api-version"),
        "enc": enc,
        "kid": bundle["key"]["kid"],
        "nonce": body.get("nonce"),
    }
    payload = release.release_payload(bundle, echo, request.base_url, issued=app.clock.now())
    return Response(
        200, {"value": release.sign_jws(payload, app.tls.signing_key, app.tls.chain_der)}
    )


def get_attestation(app: Any, request: Request, params: dict[str, str]) -> Response:
    """GET /keys/{name}/{version}/attestation: the bundle plus an emulator attestation."""
    key = app.store.keys.get(params["name"], params.get("version") or None)
    statement = {
        "kid": render.key_id(request, key.name, key.version),
        "kty": key.kty,
        "origin": key.origin,
        "generated_in_hsm": key.origin == "generated",
        "attester": "hsm_emulator (not a hardware attestation)",
    }
    encoded = b64url_encode(json.dumps(statement).encode())
    bundle = render.key_bundle(app, request, key)
    bundle["attributes"]["attestation"] = {
        "certificatePemFile": b64url_encode(app.tls.ca_path.read_bytes()),
        "privateKeyAttestation": encoded,
        "publicKeyAttestation": encoded,
        "version": "1.0",
    }
    return Response(200, bundle)
