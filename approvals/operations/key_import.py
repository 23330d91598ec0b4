"""key.import: bring your own key — a key wrapped on-premises to the HSM's key-exchange key."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any
from urllib.parse import urlparse

from django.conf import settings

from accounts.models import Team
from approvals.models import Operation
from approvals.operations.base import (
    KEY_TYPES,
    Checked,
    ExecutionContext,
    OperationSpec,
    Outcome,
    call,
    live_key,
)
from approvals.operations.key_create import existing_key_of, key_tags, name_is_free
from keys.services.inventory import record_key_applied

MAX_BYOK_BYTES = 64 * 1024
ENCRYPTIONS = ("CKM_RSA_AES_KEY_WRAP", "RSA_AES_KEY_WRAP_256", "RSA_AES_KEY_WRAP_384")
MIN_CIPHERTEXT = 256 + 24  # RSA-2048 OAEP block + the smallest AES-KWP output


def _b64url_bytes(text: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        return None


def check_byok_file(checked: Checked, value: Any, team: Team) -> dict | None:
    """The .byok transfer file: `{"schema_version", "header": {"kid", "alg": "dir", "enc"},
    "ciphertext", "generator"}` wrapped to a key-exchange key of this team in this HSM."""
    text = value if isinstance(value, str) else json.dumps(value) if isinstance(value, dict) else ""
    if len(text.encode()) > MAX_BYOK_BYTES:
        checked.errors.add("byok", f"The BYOK file is larger than {MAX_BYOK_BYTES // 1024} KiB.")
        return None
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    if not isinstance(document, dict):
        checked.errors.add("byok", "Must be the JSON transfer file made by your HSM vendor tool.")
        return None
    header = document.get("header")
    if (
        not isinstance(header, dict)
        or header.get("alg") != "dir"
        or header.get("enc") not in ENCRYPTIONS
    ):
        checked.errors.add("byok.header", "Needs alg 'dir' and enc CKM_RSA_AES_KEY_WRAP.")
        return None
    ciphertext = document.get("ciphertext")
    blob = _b64url_bytes(ciphertext) if isinstance(ciphertext, str) else None
    if blob is None or len(blob) < MIN_CIPHERTEXT:
        checked.errors.add("byok.ciphertext", "Must be base64url of the wrapped key material.")
    kek_name = _kek_name(checked, header.get("kid"))
    kek = live_key(checked, kek_name, field_name="byok.header.kid") if kek_name else None
    if kek and (kek.kty != "RSA-HSM" or kek.key_ops != ["import"]):
        checked.errors.add(
            "byok.header.kid",
            f"{kek_name} is not a key-exchange key (RSA-HSM with only the import operation).",
        )
    if kek and kek.team_id != team.pk:
        checked.errors.add("byok.header.kid", f"{kek_name} belongs to another team.")
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return {"kek_kid": header.get("kid"), "file": canonical}


def _kek_name(checked: Checked, kid: Any) -> str | None:
    """`https://<this HSM>/keys/<kek>/<version>` → `<kek>`."""
    url = urlparse(kid) if isinstance(kid, str) else None
    parts = url.path.strip("/").split("/") if url else []
    if not url or url.scheme != "https" or len(parts) != 3 or parts[0] != "keys":
        checked.errors.add("byok.header.kid", "Must be the key-exchange key's versioned key id.")
        return None
    if url.netloc.lower() != urlparse(settings.HSM_URL).netloc.lower():
        checked.errors.add("byok.header.kid", "The file was wrapped for another HSM.")
        return None
    return parts[1]


class KeyImport(OperationSpec):
    operation = Operation.KEY_IMPORT
    fields = ("name", "kty", "byok", "key_ops", "tags")

    def validate(self, params: dict, *, team: Team) -> dict:
        checked = self.check(params)
        name = checked.key_name(team)
        kty = checked.choice("kty", KEY_TYPES)
        key_ops = checked.key_ops(kty)
        byok = check_byok_file(checked, checked.required("byok"), team)
        tags = checked.tags()
        name_is_free(checked, name)
        checked.errors.raise_if_any()
        normalized = {"name": name, "kty": kty, "key_ops": key_ops, "byok": byok, "tags": tags}
        return {k: v for k, v in normalized.items() if v is not None}

    def preview(self, params: dict) -> str:
        return call(
            "import_key",
            params["name"],
            kty=params["kty"],
            key_ops=params["key_ops"],
            key_hsm=f"<BYOK file wrapped to {params['byok']['kek_kid']}>",
            tags=params.get("tags"),
        )

    def execute(self, ctx: ExecutionContext) -> Outcome:
        p = ctx.change.params
        key = existing_key_of(ctx) or ctx.gateway.import_byok_key(
            p["name"],
            kty=p["kty"],
            transfer_blob=p["byok"]["file"].encode(),
            kek_id=p["byok"]["kek_kid"],
            key_ops=p["key_ops"],
            tags=key_tags(ctx.change, p),
        )
        return Outcome(
            result={"key": key.name, "version": key.version, "kid": key.kid},
            hsm_request_ids=[key.request_id] if key.request_id else [],
            record_inventory=lambda now: record_key_applied(key=key, now=now),
        )
