"""Validation of key request bodies (create, import, update) into store-ready values.

Shape checks and the service's cross-field rules live here so routes stay thin: exportable keys
need a release policy (and only they may have one), key_ops must suit the key type, an immutable
release policy cannot be replaced.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from hsm_emulator.codec import b64url_decode, full_match, optional_bool, optional_int
from hsm_emulator.crypto import KeyMaterial
from hsm_emulator.errors import bad_parameter
from hsm_emulator.jwk import ALL_KEY_OPS, DEFAULT_KEY_OPS, FAMILY_KEY_OPS, FAMILY_KTY
from hsm_emulator.store.models import KeyVersion, VersionSpec

NAME_PATTERN = re.compile(r"[0-9a-zA-Z-]{1,127}")  # matched in full
DEFAULT_CONTENT_TYPE = "application/json; charset=utf-8"
MAX_TAGS = 15


def check_name(name: str) -> str:
    """Key names are 1-127 characters of ``0-9a-zA-Z-`` (compared case-insensitively by the
    store, as in the service)."""
    if not full_match(NAME_PATTERN, name):
        raise bad_parameter(
            f"The key name '{name}' is invalid: use 1-127 letters, digits and dashes."
        )
    return name


def parse_key_ops(value: Any, family: str) -> list[str]:
    """key_ops for a key family; absent means the family's default operations."""
    if value is None:
        return list(DEFAULT_KEY_OPS[family])
    if not isinstance(value, list) or not all(isinstance(op, str) for op in value):
        raise bad_parameter("The parameter 'key_ops' must be a list of strings.")
    for op in value:
        if op not in ALL_KEY_OPS:
            raise bad_parameter(f"Invalid key operation: {op}")
        if op not in FAMILY_KEY_OPS[family]:
            raise bad_parameter(f"Key operation {op} is not supported for {FAMILY_KTY[family]}.")
    return list(dict.fromkeys(value))


def parse_tags(value: Any) -> dict[str, str]:
    """Tags: a string → string map of at most 15 entries."""
    if value is None:
        return {}
    valid = isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    )
    if not valid:
        raise bad_parameter("The parameter 'tags' must map strings to strings.")
    if len(value) > MAX_TAGS:
        raise bad_parameter(f"At most {MAX_TAGS} tags are allowed.")
    return dict(value)


def parse_attributes(value: Any) -> dict[str, Any]:
    """The writable attributes that are present: enabled, nbf, exp, exportable."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise bad_parameter("The parameter 'attributes' must be an object.")
    parsed: dict[str, Any] = {}
    for field in ("enabled", "exportable"):
        if field in value and value[field] is not None:
            parsed[field] = optional_bool(value[field], field)
    for field in ("nbf", "exp"):
        if field in value:
            parsed[field] = optional_int(value[field], field)
    return parsed


def parse_release_policy(value: Any) -> dict[str, Any] | None:
    """A release policy {contentType, immutable, data}; ``data`` must be base64url JSON."""
    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("data"), str):
        raise bad_parameter("The release_policy must be an object with base64url 'data'.")
    try:
        document = json.loads(b64url_decode(value["data"], field="release_policy.data"))
    except ValueError as exc:
        raise bad_parameter("The release policy data is not valid JSON.") from exc
    if not isinstance(document, dict):
        raise bad_parameter("The release policy data must be a JSON object.")
    content_type = value.get("contentType") or DEFAULT_CONTENT_TYPE
    immutable = optional_bool(value.get("immutable"), "release_policy.immutable") or False
    return {"contentType": content_type, "immutable": immutable, "data": value["data"]}


def check_export_rules(exportable: bool, release_policy: dict[str, Any] | None) -> None:
    """Exportable keys need a release policy; non-exportable keys must not have one."""
    if exportable and release_policy is None:
        raise bad_parameter("Exportable keys must have a release policy.")
    if release_policy is not None and not exportable:
        raise bad_parameter("Non-exportable keys must not have a release policy.")


@dataclass(frozen=True)
class KeyOptions:
    """Validated create/import options, checked before any (slow) key generation."""

    key_ops: list[str]
    enabled: bool
    nbf: int | None
    exp: int | None
    exportable: bool
    tags: dict[str, str]
    release_policy: dict[str, Any] | None


def parse_options(body: dict[str, Any], family: str, key_ops: Any) -> KeyOptions:
    """Options of a create or import body for a key of ``family``."""
    attributes = parse_attributes(body.get("attributes"))
    release_policy = parse_release_policy(body.get("release_policy"))
    exportable = bool(attributes.get("exportable", False))
    check_export_rules(exportable, release_policy)
    return KeyOptions(
        key_ops=parse_key_ops(key_ops, family),
        enabled=attributes.get("enabled", True),
        nbf=attributes.get("nbf"),
        exp=attributes.get("exp"),
        exportable=exportable,
        tags=parse_tags(body.get("tags")),
        release_policy=release_policy,
    )


def version_spec(options: KeyOptions, material: KeyMaterial, *, origin: str) -> VersionSpec:
    """Combine validated options with generated or imported key material."""
    return VersionSpec(
        kty=FAMILY_KTY[material.family],
        key_size=material.key_size,
        crv=material.crv,
        key_ops=options.key_ops,
        public=material.public,
        secret=material.secret,
        enabled=options.enabled,
        nbf=options.nbf,
        exp=options.exp,
        exportable=options.exportable,
        tags=options.tags,
        release_policy=options.release_policy,
        origin=origin,
    )


def update_columns(current: KeyVersion, body: dict[str, Any]) -> dict[str, Any]:
    """Column changes for PATCH: only the fields present in ``body`` change."""
    columns: dict[str, Any] = {}
    if "key_ops" in body and body["key_ops"] is not None:
        columns["key_ops"] = json.dumps(parse_key_ops(body["key_ops"], current.family))
    attributes = parse_attributes(body.get("attributes"))
    for field in ("nbf", "exp"):
        if field in attributes:
            columns[field] = attributes[field]
    if "enabled" in attributes:
        columns["enabled"] = int(attributes["enabled"])
    if "tags" in body and body["tags"] is not None:
        columns["tags"] = json.dumps(parse_tags(body["tags"]))
    policy = current.release_policy
    if body.get("release_policy") is not None:
        if current.release_policy and current.release_policy.get("immutable"):
            raise bad_parameter("The key's release policy is immutable and cannot be changed.")
        policy = parse_release_policy(body["release_policy"])
        columns["release_policy"] = json.dumps(policy)
    exportable = attributes.get("exportable", current.exportable)
    if current.exportable and not exportable:
        raise bad_parameter("An exportable key cannot be made non-exportable.")
    if "exportable" in attributes or "release_policy" in columns:
        check_export_rules(exportable, policy)
        columns["exportable"] = int(exportable)
    return columns
