"""key.import: bring your own key — a key wrapped on-premises to the HSM's key-exchange key."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any
from urllib.parse import urlparse

from django.conf import settings
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import Team
from approvals.models import Operation
from approvals.operations.base import (
    OperationSpec,
    Outcome,
    Problems,
    live_key,
    request_ids,
    team_may_use,
)
from approvals.operations.fields import (
    KEY_TYPES,
    KeyNameField,
    KeyOpsField,
    RotationClassField,
    StrictChoiceField,
    StrictSerializer,
    TagsField,
    nested_errors,
    ops_problem,
)
from approvals.operations.key_create import (
    KEY_OPS_HELP,
    key_tags,
    name_is_free,
    rotation_class_exists,
)
from approvals.operations.plan import HsmCall, KeyMadeByRequest
from core.canonical import canonical_json
from keys.services.inventory import record_key_applied

MAX_BYOK_BYTES = 64 * 1024
ENCRYPTIONS = ("CKM_RSA_AES_KEY_WRAP", "RSA_AES_KEY_WRAP_256", "RSA_AES_KEY_WRAP_384")
MIN_CIPHERTEXT = 256 + 24  # RSA-2048 OAEP block + the smallest AES-KWP output


def _b64url_bytes(text: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None


def kid_parts(kid: Any) -> tuple[str, str] | None:
    """`https://<host>/keys/<kek>/<version>` → (host, kek), or None."""
    try:
        url = urlparse(kid) if isinstance(kid, str) else None
    except ValueError:  # e.g. "https://[": an unterminated IPv6 host
        return None
    parts = url.path.strip("/").split("/") if url else []
    if not url or url.scheme != "https" or len(parts) != 3 or parts[0] != "keys":
        return None
    return url.netloc.lower(), parts[1]


def _not_json(constant: str):
    raise ValueError(f"{constant} is not JSON")


@extend_schema_field({"oneOf": [{"type": "object"}, {"type": "string"}]})
class ByokFileField(serializers.Field):
    """The .byok transfer file (its JSON, as an object or as text): `{"schema_version",
    "header": {"kid", "alg": "dir", "enc"}, "ciphertext", "generator"}` → `{"kek_kid", "file"}`
    with the file in canonical JSON."""

    def to_internal_value(self, data):
        text = data if isinstance(data, str) else json.dumps(data) if isinstance(data, dict) else ""
        if len(text.encode()) > MAX_BYOK_BYTES:
            raise serializers.ValidationError(
                f"The BYOK file is larger than {MAX_BYOK_BYTES // 1024} KiB."
            )
        try:  # NaN/Infinity are not JSON; a document nested too deep is refused, not a crash
            document = json.loads(text, parse_constant=_not_json)
        except (ValueError, RecursionError):
            document = None
        if not isinstance(document, dict):
            raise serializers.ValidationError(
                "Must be the JSON transfer file made by your HSM vendor tool."
            )
        header = document.get("header")
        if (
            not isinstance(header, dict)
            or header.get("alg") != "dir"
            or header.get("enc") not in ENCRYPTIONS
        ):
            raise serializers.ValidationError(
                {"header": "Needs alg 'dir' and enc CKM_RSA_AES_KEY_WRAP."}
            )
        errors = {}
        ciphertext = document.get("ciphertext")
        blob = _b64url_bytes(ciphertext) if isinstance(ciphertext, str) else None
        if blob is None or len(blob) < MIN_CIPHERTEXT:
            errors["ciphertext"] = ["Must be base64url of the wrapped key material."]
        if kid_parts(header.get("kid")) is None:
            errors["header.kid"] = ["Must be the key-exchange key's versioned key id."]
        if errors:
            raise serializers.ValidationError(nested_errors(errors))
        return {"kek_kid": header["kid"], "file": canonical_json(document)}

    def to_representation(self, value):
        return value


class KeyImportParams(StrictSerializer):
    """A key generated elsewhere, in a .byok file wrapped to a key-exchange key."""

    name = KeyNameField()
    kty = StrictChoiceField(KEY_TYPES, label="Key type")
    byok = ByokFileField(
        label="BYOK transfer file (.byok)",
        help_text=f"JSON written by your HSM vendor's tool, at most {MAX_BYOK_BYTES // 1024} "
        "KiB, wrapped to one of your team's key-exchange keys.",
    )
    key_ops = KeyOpsField(help_text=f"Allowed per key type — {KEY_OPS_HELP}.")
    tags = TagsField(required=False)
    rotation_class = RotationClassField(required=False)

    def validate(self, attrs):
        kty, ops = attrs.get("kty"), attrs.get("key_ops")
        wrong_ops = ops_problem(kty, ops) if kty and ops else None
        if wrong_ops:
            raise serializers.ValidationError({"key_ops": wrong_ops})
        return attrs


def check_kek(problems: Problems, kek_kid: str, team: Team) -> None:
    """The file is wrapped to a key-exchange key of this team in this HSM."""
    host, kek_name = kid_parts(kek_kid)
    where = "byok.header.kid"
    if host != urlparse(settings.HSM_URL).netloc.lower():
        problems.add(where, "The file was wrapped for another HSM.")
        return
    kek = live_key(problems, kek_name, field=where)
    if kek and not kek.is_kek:
        problems.add(
            where, f"{kek_name} is not a key-exchange key (RSA-HSM with only the import operation)."
        )
    if kek and kek.team_id != team.pk:
        problems.add(where, f"{kek_name} belongs to another team.")


class KeyImport(OperationSpec):
    operation = Operation.KEY_IMPORT
    params = KeyImportParams

    def validate(self, params: dict, *, team: Team) -> dict:
        problems = Problems()
        if team_may_use(problems, team, params.get("name")):
            name_is_free(problems, params["name"])
        if params.get("byok"):
            check_kek(problems, params["byok"]["kek_kid"], team)
        rotation_class_exists(problems, params.get("rotation_class"))
        problems.raise_if_any()
        return params

    def plan(self, params: dict, *, request_id) -> list[HsmCall]:
        name = params["name"]
        return [
            HsmCall(
                "import_byok_key",
                name,
                kty=params["kty"],
                transfer_blob=params["byok"]["file"].encode(),
                kek_id=params["byok"]["kek_kid"],
                key_ops=params["key_ops"],
                tags=key_tags(params, request_id),
                already_done=KeyMadeByRequest(name, request_id),
            )
        ]

    def outcome(self, ctx, results) -> Outcome:
        key = results[0]
        return Outcome(
            result={"key": key.name, "version": key.version, "kid": key.kid},
            hsm_request_ids=request_ids(key.request_id),
            record_inventory=lambda now: record_key_applied(key=key, now=now),
        )
