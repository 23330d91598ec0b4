"""key.create: a new RSA-HSM, EC-HSM or oct-HSM key, optionally with a rotation policy."""

from __future__ import annotations

from dataclasses import replace

from django.utils.dateparse import parse_datetime

from accounts.models import Team
from approvals.models import Operation
from approvals.operations.base import (
    AES_SIZES,
    CURVES,
    KEY_TYPES,
    REQUEST_TAG,
    RSA_SIZES,
    Checked,
    ExecutionContext,
    OperationSpec,
    Outcome,
    call,
)
from approvals.operations.policies import (
    check_release_policy,
    check_rotation_policy,
    lifetime_actions,
)
from keys.gateway import HsmConflict, KeyInfo
from keys.models import KeyState, ManagedKey
from keys.services.inventory import record_key_applied


def name_is_free(checked: Checked, name: str | None) -> None:
    taken = ManagedKey.objects.filter(name=name).exclude(state=KeyState.PURGED).first()
    if name and taken:
        detail = "exists" if taken.state == KeyState.ACTIVE else "is deleted but recoverable"
        checked.errors.add("name", f"A key named {name} {detail}.")


def check_size(checked: Checked, kty: str | None) -> tuple[int | None, str | None]:
    size, curve = checked.raw.get("size"), checked.raw.get("curve")
    if kty == "EC-HSM":
        curve = checked.choice("curve", CURVES)
        if size is not None:
            checked.errors.add("size", "EC keys take a curve, not a size.")
        return None, curve
    if kty in ("RSA-HSM", "oct-HSM"):
        sizes = RSA_SIZES if kty == "RSA-HSM" else AES_SIZES
        size = checked.choice("size", sizes)
        if curve is not None:
            checked.errors.add("curve", f"{kty} keys take a size, not a curve.")
        return size, None
    return None, None


def key_tags(change, params: dict) -> dict:
    return {**params.get("tags", {}), REQUEST_TAG: str(change.pk)}


def existing_key_of(ctx: ExecutionContext) -> KeyInfo | None:
    """The key if this request already made it (a repeated attempt); HsmConflict if someone
    else did."""
    name = ctx.change.key_name
    existing = ctx.gateway.find_key(name)
    if existing is None:
        return None
    if existing.tags.get(REQUEST_TAG) == str(ctx.change.pk):
        return existing
    raise HsmConflict(
        f"A key named {name} already exists in the HSM; it was not made by this request.",
        code="Conflict",
        status=409,
    )


class KeyCreate(OperationSpec):
    operation = Operation.KEY_CREATE
    fields = (
        "name",
        "kty",
        "size",
        "curve",
        "key_ops",
        "exportable",
        "release_policy",
        "not_before",
        "expires_on",
        "tags",
        "rotation_policy",
    )

    def validate(self, params: dict, *, team: Team) -> dict:
        checked = self.check(params)
        name = checked.key_name(team)
        kty = checked.choice("kty", KEY_TYPES)
        size, curve = check_size(checked, kty)
        key_ops = checked.key_ops(kty)
        exportable = checked.boolean("exportable", False)
        release_policy = None
        if exportable:
            release_policy = check_release_policy(
                checked, checked.required("release_policy"), "release_policy"
            )
        elif params.get("release_policy") is not None:
            checked.errors.add("release_policy", "Only exportable keys have a release policy.")
        not_before = checked.timestamp("not_before")
        expires_on = checked.timestamp("expires_on", future=True)
        if not_before and expires_on and parse_datetime(expires_on) <= parse_datetime(not_before):
            checked.errors.add("expires_on", "Must be after not_before.")
        rotation = params.get("rotation_policy")
        rotation = check_rotation_policy(checked, rotation, "rotation_policy") if rotation else None
        tags = checked.tags()
        name_is_free(checked, name)
        checked.errors.raise_if_any()
        normalized = {
            "name": name,
            "kty": kty,
            "size": size,
            "curve": curve,
            "key_ops": key_ops,
            "exportable": exportable,
            "release_policy": release_policy,
            "not_before": not_before,
            "expires_on": expires_on,
            "tags": tags,
            "rotation_policy": rotation,
        }
        return {k: v for k, v in normalized.items() if v is not None}

    def preview(self, params: dict) -> str:
        text = call(
            "create_key",
            params["name"],
            kty=params["kty"],
            size=params.get("size"),
            curve=params.get("curve"),
            key_ops=params["key_ops"],
            exportable=params.get("exportable") or None,
            release_policy=params.get("release_policy"),
            not_before=params.get("not_before"),
            expires_on=params.get("expires_on"),
            tags=params.get("tags"),
        )
        if params.get("rotation_policy"):
            text += "; then " + call(
                "update_key_rotation_policy", params["name"], **params["rotation_policy"]
            )
        return text

    def execute(self, ctx: ExecutionContext) -> Outcome:
        p, gateway = ctx.change.params, ctx.gateway
        key = existing_key_of(ctx) or gateway.create_key(
            p["name"],
            kty=p["kty"],
            size=p.get("size"),
            curve=p.get("curve"),
            key_ops=p["key_ops"],
            exportable=p.get("exportable", False),
            release_policy=p.get("release_policy"),
            not_before=parse_datetime(p["not_before"]) if p.get("not_before") else None,
            expires_on=parse_datetime(p["expires_on"]) if p.get("expires_on") else None,
            tags=key_tags(ctx.change, p),
        )
        policy, request_ids = None, [key.request_id]
        if p.get("rotation_policy"):
            applied = gateway.set_rotation_policy(
                p["name"],
                lifetime_actions=lifetime_actions(p["rotation_policy"]),
                expires_in=p["rotation_policy"].get("expiry_time"),
            )
            policy = applied.as_dict()
        key = replace(key, key_size=key.key_size or p.get("size"))
        return Outcome(
            result={"key": key.name, "version": key.version, "kid": key.kid},
            hsm_request_ids=[r for r in request_ids if r],
            record_inventory=lambda now: record_key_applied(
                key=key, now=now, rotation_policy=policy
            ),
        )
