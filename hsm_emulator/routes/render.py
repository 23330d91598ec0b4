"""Wire rendering shared by the key routes: ids, bundles, items, and paging."""

from __future__ import annotations

import json
from typing import Any

from hsm_emulator.codec import b64url_decode, b64url_encode, optional_int
from hsm_emulator.errors import bad_parameter
from hsm_emulator.store import DeletedKey, KeyVersion
from hsm_emulator.wire import Request

MAX_PAGE_SIZE = 25


def key_id(request: Request, name: str, version: str | None = None) -> str:
    """``https://<Host>/keys/<name>[/<version>]`` built from the request's Host header."""
    base = f"{request.base_url}/keys/{name}"
    return f"{base}/{version}" if version else base


def attributes(app: Any, key: KeyVersion) -> dict[str, Any]:
    """KeyAttributes as the service reports them (nbf/exp only when set)."""
    document: dict[str, Any] = {"enabled": key.enabled}
    if key.nbf is not None:
        document["nbf"] = key.nbf
    if key.exp is not None:
        document["exp"] = key.exp
    document.update(
        created=key.created,
        updated=key.updated,
        recoveryLevel=app.recovery_level,
        recoverableDays=app.config.retention_days,
        exportable=key.exportable,
        hsmPlatform="2",
    )
    return document


def jwk(request: Request, key: KeyVersion) -> dict[str, Any]:
    """The public JWK with its versioned kid; oct keys carry no key material at all."""
    return {
        "kid": key_id(request, key.name, key.version),
        "kty": key.kty,
        "key_ops": list(key.key_ops),
        **key.public,
    }


def key_bundle(app: Any, request: Request, key: KeyVersion) -> dict[str, Any]:
    """KeyBundle: key, attributes, tags and release_policy (when set)."""
    bundle: dict[str, Any] = {"key": jwk(request, key), "attributes": attributes(app, key)}
    if key.tags:
        bundle["tags"] = key.tags
    if key.release_policy is not None:
        bundle["release_policy"] = key.release_policy
    return bundle


def _deleted_fields(request: Request, deleted: DeletedKey) -> dict[str, Any]:
    return {
        "recoveryId": f"{request.base_url}/deletedkeys/{deleted.latest.name}",
        "deletedDate": deleted.deleted_date,
        "scheduledPurgeDate": deleted.scheduled_purge_date,
    }


def deleted_bundle(app: Any, request: Request, deleted: DeletedKey) -> dict[str, Any]:
    """DeletedKeyBundle: the latest version's bundle plus recoveryId and the deletion dates."""
    return {**key_bundle(app, request, deleted.latest), **_deleted_fields(request, deleted)}


def key_item(app: Any, request: Request, key: KeyVersion, *, versioned: bool) -> dict[str, Any]:
    """KeyItem: unversioned kid in /keys, versioned kid in /keys/{name}/versions."""
    item: dict[str, Any] = {
        "kid": key_id(request, key.name, key.version if versioned else None),
        "attributes": attributes(app, key),
    }
    if key.tags:
        item["tags"] = key.tags
    return item


def deleted_item(app: Any, request: Request, deleted: DeletedKey) -> dict[str, Any]:
    """DeletedKeyItem."""
    return {
        **key_item(app, request, deleted.latest, versioned=False),
        **_deleted_fields(request, deleted),
    }


def page_request(request: Request) -> tuple[int, dict[str, Any]]:
    """(page size, decoded $skiptoken) from the query; maxresults is 1-25, default 25."""
    raw_size = request.query.get("maxresults")
    size = MAX_PAGE_SIZE
    if raw_size is not None:
        try:
            size = optional_int(int(raw_size), "maxresults") or 0
        except ValueError as exc:
            raise bad_parameter("maxresults must be an integer between 1 and 25.") from exc
        if not 1 <= size <= MAX_PAGE_SIZE:
            raise bad_parameter("maxresults must be an integer between 1 and 25.")
    token = request.query.get("$skiptoken")
    if not token:
        return size, {}
    try:
        position = json.loads(b64url_decode(token, field="$skiptoken"))
    except ValueError as exc:
        raise bad_parameter("The $skiptoken is invalid.") from exc
    if not isinstance(position, dict):
        raise bad_parameter("The $skiptoken is invalid.")
    return size, position


def page(
    request: Request, values: list[dict[str, Any]], *, size: int, next_position: dict | None
) -> dict[str, Any]:
    """A list result whose absolute nextLink (from the Host header) resumes at ``next_position``."""
    next_link = None
    if next_position is not None:
        token = b64url_encode(json.dumps(next_position, separators=(",", ":")).encode())
        api_version = request.query.get("api-version", "")
        next_link = (
            f"{request.base_url}{request.path}?api-version={api_version}"
            f"&$skiptoken={token}&maxresults={size}"
        )
    return {"value": values, "nextLink": next_link}
