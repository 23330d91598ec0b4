"""Key management routes: create, import, get, list, update, rotate, delete/recover/purge,
per-key backup/restore, rotation policy."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from hsm_emulator import byok, crypto, rotation
from hsm_emulator.codec import b64url_decode, b64url_encode, optional_int
from hsm_emulator.crypto import KeyMaterial
from hsm_emulator.errors import bad_parameter
from hsm_emulator.jwk import (
    ec_private_from_jwk,
    family_of,
    oct_from_jwk,
    rsa_private_from_jwk,
)
from hsm_emulator.keyspec import check_name, parse_options, update_columns, version_spec
from hsm_emulator.routes import render
from hsm_emulator.routes.usage import require_usable
from hsm_emulator.wire import Request, Response


def create_key(app: Any, request: Request, params: dict[str, str]) -> Response:
    """POST /keys/{name}/create: a new key, or a new version of an existing one."""
    name = check_name(params["name"])
    body = request.json()
    family = family_of(body.get("kty"))
    options = parse_options(body, family, body.get("key_ops"))
    material = crypto.generate(
        family,
        key_size=optional_int(body.get("key_size"), "key_size"),
        crv=body.get("crv"),
        public_exponent=optional_int(body.get("public_exponent"), "public_exponent"),
    )
    spec = version_spec(options, material, origin="generated")
    key = app.store.keys.add_version(name, spec, now=app.clock.now())
    return Response(200, render.key_bundle(app, request, key))


def _plain_material(family: str, jwk: dict[str, Any]) -> KeyMaterial:
    if family == "oct":
        return crypto.material_from_oct(oct_from_jwk(jwk))
    if family == "RSA":
        return crypto.material_from_private_key(rsa_private_from_jwk(jwk))
    return crypto.material_from_private_key(ec_private_from_jwk(jwk))


def _kek_reference(kid: Any) -> tuple[str, str | None]:
    if not isinstance(kid, str) or not kid:
        raise bad_parameter("A BYOK import needs 'kid': the id of the Key Exchange Key.")
    parts = [part for part in urlsplit(kid).path.split("/") if part]
    if len(parts) not in (2, 3) or parts[0] != "keys":
        raise bad_parameter(f"The Key Exchange Key id is invalid: {kid}")
    return parts[1], parts[2] if len(parts) == 3 else None


def _byok_material(app: Any, family: str, jwk: dict[str, Any]) -> KeyMaterial:
    kek_name, kek_version = _kek_reference(jwk.get("kid"))
    kek = app.store.keys.get(kek_name, kek_version)
    if kek.family != "RSA" or list(kek.key_ops) != ["import"]:
        raise bad_parameter(
            f"Key {kek_name} is not a Key Exchange Key: it must be RSA-HSM with key_ops ['import']."
        )
    require_usable(kek, "import", now=app.clock.now())
    _, enc, wrapped = byok.parse_envelope(b64url_decode(jwk["key_hsm"], field="key_hsm"))
    plaintext = byok.unwrap(app.store.keys.loaded(kek).rsa_private_key(), wrapped, enc)
    return byok.target_material(family, plaintext)


def import_key(app: Any, request: Request, params: dict[str, str]) -> Response:
    """PUT /keys/{name}: plain JWK import, or BYOK when the JWK carries ``key_hsm``."""
    name = check_name(params["name"])
    body = request.json()
    jwk = body.get("key")
    if not isinstance(jwk, dict):
        raise bad_parameter("The parameter 'key' (a JSON web key) is required.")
    family = family_of(jwk.get("kty"))
    options = parse_options(body, family, jwk.get("key_ops"))
    if jwk.get("key_hsm"):
        material, origin = _byok_material(app, family, jwk), "byok"
    else:
        material, origin = _plain_material(family, jwk), "imported"
    key = app.store.keys.add_version(
        name, version_spec(options, material, origin=origin), now=app.clock.now()
    )
    return Response(200, render.key_bundle(app, request, key))


def get_key(app: Any, request: Request, params: dict[str, str]) -> Response:
    """GET /keys/{name}/{version}: an empty version means the latest."""
    key = app.store.keys.get(params["name"], params.get("version") or None)
    return Response(200, render.key_bundle(app, request, key))


def list_keys(app: Any, request: Request, params: dict[str, str]) -> Response:
    """GET /keys: one page of keys (latest version attributes, unversioned kids)."""
    size, position = render.page_request(request)
    keys = app.store.keys.list_latest(position.get("after"), size + 1)
    more = len(keys) > size
    keys = keys[:size]
    return Response(
        200,
        render.page(
            request,
            [render.key_item(app, request, key, versioned=False) for key in keys],
            size=size,
            next_position={"after": keys[-1].name} if more else None,
        ),
    )


def list_versions(app: Any, request: Request, params: dict[str, str]) -> Response:
    """GET /keys/{name}/versions: one page of versions in creation order."""
    size, position = render.page_request(request)
    after = position.get("seq", 0)
    if not isinstance(after, int):
        raise bad_parameter("The $skiptoken is invalid.")
    versions = app.store.keys.list_versions(params["name"], after, size + 1)
    more = len(versions) > size
    versions = versions[:size]
    return Response(
        200,
        render.page(
            request,
            [render.key_item(app, request, key, versioned=True) for key in versions],
            size=size,
            next_position={"seq": versions[-1].seq} if more else None,
        ),
    )


def update_key(app: Any, request: Request, params: dict[str, str]) -> Response:
    """PATCH /keys/{name}/{version}: only the fields present in the body change."""
    body = request.json()
    key = app.store.keys.update(
        params["name"],
        params.get("version") or None,
        lambda current: update_columns(current, body),
        now=app.clock.now(),
    )
    return Response(200, render.key_bundle(app, request, key))


def rotate_key(app: Any, request: Request, params: dict[str, str]) -> Response:
    """POST /keys/{name}/rotate: a new version with the same type, size, curve and ops."""
    key = rotation.rotate_key(app.store, params["name"], now=app.clock.now())
    return Response(200, render.key_bundle(app, request, key))


def _policy_document(request: Request, name: str, policy: dict[str, Any] | None) -> dict:
    if policy is None:
        return {
            "id": f"{render.key_id(request, name)}/rotationpolicy",
            "lifetimeActions": rotation.DEFAULT_POLICY_ACTIONS,
            "attributes": {},
        }
    return {"id": f"{render.key_id(request, name)}/rotationpolicy", **policy}


def get_rotation_policy(app: Any, request: Request, params: dict[str, str]) -> Response:
    """GET /keys/{name}/rotationpolicy: the stored policy, or the service's default one."""
    policy = app.store.keys.rotation_policy(params["name"])
    return Response(200, _policy_document(request, params["name"], policy))


def put_rotation_policy(app: Any, request: Request, params: dict[str, str]) -> Response:
    """PUT /keys/{name}/rotationpolicy: validate and replace the policy."""
    policy = rotation.validate_policy(request.json())
    previous = app.store.keys.rotation_policy(params["name"])
    stamp = app.clock.now()
    created = ((previous or {}).get("attributes") or {}).get("created", stamp)
    policy["attributes"].update(created=created, updated=stamp)
    app.store.keys.set_rotation_policy(params["name"], policy)
    return Response(200, _policy_document(request, params["name"], policy))


def delete_key(app: Any, request: Request, params: dict[str, str]) -> Response:
    """DELETE /keys/{name}: soft delete; the deleted entry is visible at once."""
    deleted = app.store.keys.delete(
        params["name"], now=app.clock.now(), retention_days=app.config.retention_days
    )
    return Response(200, render.deleted_bundle(app, request, deleted))


def get_deleted_key(app: Any, request: Request, params: dict[str, str]) -> Response:
    """GET /deletedkeys/{name}."""
    return Response(
        200, render.deleted_bundle(app, request, app.store.keys.get_deleted(params["name"]))
    )


def list_deleted_keys(app: Any, request: Request, params: dict[str, str]) -> Response:
    """GET /deletedkeys: one page of soft-deleted keys."""
    size, position = render.page_request(request)
    deleted = app.store.keys.list_deleted(position.get("after"), size + 1)
    more = len(deleted) > size
    deleted = deleted[:size]
    return Response(
        200,
        render.page(
            request,
            [render.deleted_item(app, request, item) for item in deleted],
            size=size,
            next_position={"after": deleted[-1].latest.name} if more else None,
        ),
    )


def recover_key(app: Any, request: Request, params: dict[str, str]) -> Response:
    """POST /deletedkeys/{name}/recover: the key is live again at once."""
    key = app.store.keys.recover(params["name"])
    return Response(200, render.key_bundle(app, request, key))


def purge_key(app: Any, request: Request, params: dict[str, str]) -> Response:
    """DELETE /deletedkeys/{name}: 204; refused (403) under purge protection until due."""
    app.store.keys.purge(
        params["name"], now=app.clock.now(), purge_protection=app.config.purge_protection
    )
    return Response(204)


def backup_key(app: Any, request: Request, params: dict[str, str]) -> Response:
    """POST /keys/{name}/backup: an encrypted, authenticated blob with every version."""
    blob = app.store.sealer.seal_backup(app.store.keys.export(params["name"]))
    return Response(200, {"value": b64url_encode(blob)})


def restore_key(app: Any, request: Request, params: dict[str, str]) -> Response:
    """POST /keys/restore: recreate a key from a backup blob, keeping its version ids."""
    body = request.json()
    document = app.store.sealer.open_backup(b64url_decode(body.get("value"), field="value"))
    check_name(document.get("name", ""))
    key = app.store.keys.restore(document)
    return Response(200, render.key_bundle(app, request, key))
