"""The keys a security domain carries: every live key, all versions, as a per-key backup
exports them (material, attributes, version ids, timestamps, rotation policy)."""

from __future__ import annotations

import json
from typing import Any

from hsm_emulator.errors import ApiError, bad_parameter, conflict
from hsm_emulator.store import Store

FORMAT = 1
_PAGE = 500
_VERSION_FIELDS = frozenset(
    {
        "version",
        "kty",
        "key_size",
        "crv",
        "key_ops",
        "public_jwk",
        "secret",
        "enabled",
        "nbf",
        "exp",
        "exportable",
        "created",
        "updated",
        "tags",
        "release_policy",
        "origin",
    }
)


def export_keys(store: Store) -> bytes:
    """Every live key of the store, as one JSON document."""
    documents: list[dict[str, Any]] = []
    after = None
    while True:
        page = store.keys.list_latest(after, _PAGE)
        for latest in page:
            try:
                documents.append(store.keys.export(latest.name))
            except ApiError:  # deleted or purged since it was listed
                continue
        if len(page) < _PAGE:
            break
        after = page[-1].name
    return json.dumps({"format": FORMAT, "keys": documents}, separators=(",", ":")).encode()


def parse_keys(payload: bytes) -> list[dict[str, Any]]:
    """The key documents of a payload; 400 BadParameter when it is not this format."""
    try:
        document = json.loads(payload)
    except ValueError as exc:
        raise bad_parameter("The security domain's key data is not JSON.") from exc
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise bad_parameter(f"The security domain's key data is not format {FORMAT}.")
    keys = document.get("keys")
    if not isinstance(keys, list):
        raise bad_parameter("The security domain's key data has no 'keys' array.")
    for key in keys:
        versions = key.get("versions") if isinstance(key, dict) else None
        if (
            not isinstance(versions, list)
            or not isinstance(key.get("name"), str)
            or not versions
            or not all(isinstance(v, dict) and v.keys() >= _VERSION_FIELDS for v in versions)
        ):
            raise bad_parameter("The security domain's key data holds a malformed key.")
    return keys


def ensure_empty(store: Store) -> None:
    """An upload restores into an HSM without keys (409 otherwise: nothing is overwritten)."""
    if store.keys.list_latest(None, 1) or store.keys.list_deleted(None, 1):
        raise conflict("This HSM already holds keys; upload a security domain into a new HSM.")


def restore_keys(store: Store, keys: list[dict[str, Any]], *, now: int) -> int:
    """Recreate every key; on any failure remove those already recreated and re-raise."""
    restored: list[str] = []
    try:
        for key in keys:
            store.keys.restore(key)
            restored.append(key["name"])
    except BaseException:
        for name in restored:
            store.keys.delete(name, now=now, retention_days=0)
            store.keys.purge(name, now=now, purge_protection=False)
        raise
    return len(restored)
