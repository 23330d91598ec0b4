"""Operations on one live key: rotate, set rotation policy, update properties, back up."""

from __future__ import annotations

import hashlib

from django.utils.dateparse import parse_datetime

from accounts.models import Team
from approvals.models import Operation
from approvals.operations.base import (
    ExecutionContext,
    NamedKeyOperation,
    OperationSpec,
    Outcome,
    call,
    live_key,
)
from approvals.operations.policies import check_rotation_policy, lifetime_actions
from keys.services.inventory import record_key_applied, record_rotation_policy_applied


class KeyRotate(NamedKeyOperation):
    operation = Operation.KEY_ROTATE
    state_hint = "Only a live key can be rotated"

    def preview(self, params: dict) -> str:
        return call("rotate_key", params["name"])

    def execute(self, ctx: ExecutionContext) -> Outcome:
        """Rotation is not idempotent: remember the version first; a repeated attempt that
        finds a different current version knows the rotation already happened."""
        name, before = ctx.change.key_name, ctx.checkpoint.get("version_before")
        if before is None:
            before = ctx.gateway.get_key(name).version
            ctx.save_checkpoint({"version_before": before})
            key = ctx.gateway.rotate_key(name)
        else:
            current = ctx.gateway.get_key(name)
            key = current if current.version != before else ctx.gateway.rotate_key(name)
        return Outcome(
            result={"key": name, "version": key.version, "previous_version": before},
            hsm_request_ids=[key.request_id] if key.request_id else [],
            record_inventory=lambda now: record_key_applied(key=key, now=now),
        )


class KeySetRotationPolicy(OperationSpec):
    operation = Operation.KEY_SET_ROTATION_POLICY
    fields = ("name", "lifetime_actions", "expiry_time")

    def validate(self, params: dict, *, team: Team) -> dict:
        checked = self.check(params)
        name = checked.key_name(team)
        live_key(checked, name)
        policy = check_rotation_policy(
            checked, {k: params[k] for k in ("lifetime_actions", "expiry_time") if k in params}, ""
        )
        checked.errors.raise_if_any()
        return {"name": name, **policy}

    def preview(self, params: dict) -> str:
        return call(
            "update_key_rotation_policy",
            params["name"],
            lifetime_actions=params["lifetime_actions"],
            expires_in=params.get("expiry_time"),
        )

    def execute(self, ctx: ExecutionContext) -> Outcome:
        p = ctx.change.params
        applied = ctx.gateway.set_rotation_policy(
            p["name"], lifetime_actions=lifetime_actions(p), expires_in=p.get("expiry_time")
        )
        policy = applied.as_dict()
        return Outcome(
            result={"key": p["name"], "rotation_policy": policy},
            hsm_request_ids=[],
            record_inventory=lambda now: record_rotation_policy_applied(
                name=p["name"], policy=policy, now=now
            ),
        )


class KeyUpdate(OperationSpec):
    operation = Operation.KEY_UPDATE
    fields = ("name", "enabled", "not_before", "expires_on", "key_ops", "tags")

    def validate(self, params: dict, *, team: Team) -> dict:
        checked = self.check(params)
        name = checked.key_name(team)
        key = live_key(checked, name)
        changes = {
            "enabled": checked.boolean("enabled"),
            "not_before": checked.timestamp("not_before"),
            "expires_on": checked.timestamp("expires_on", future=True),
            "key_ops": checked.key_ops(key.kty if key else None, required=False),
            "tags": checked.tags(),
        }
        changes = {k: v for k, v in changes.items() if v is not None}
        if name and not changes and not checked.errors.errors:
            checked.errors.add("name", "Give at least one property to change.")
        checked.errors.raise_if_any()
        return {"name": name, **changes}

    def preview(self, params: dict) -> str:
        return call(
            "update_key_properties",
            params["name"],
            **{k: v for k, v in params.items() if k != "name"},
        )

    def execute(self, ctx: ExecutionContext) -> Outcome:
        p = ctx.change.params
        key = ctx.gateway.update_key(  # PATCH: repeating it is harmless
            p["name"],
            enabled=p.get("enabled"),
            not_before=parse_datetime(p["not_before"]) if p.get("not_before") else None,
            expires_on=parse_datetime(p["expires_on"]) if p.get("expires_on") else None,
            key_ops=p.get("key_ops"),
            tags=p.get("tags"),
        )
        return Outcome(
            result={"key": key.name, "version": key.version, "enabled": key.enabled},
            hsm_request_ids=[key.request_id] if key.request_id else [],
            record_inventory=lambda now: record_key_applied(key=key, now=now),
        )


class KeyBackup(NamedKeyOperation):
    operation = Operation.KEY_BACKUP
    state_hint = "Only a live key can be backed up"

    def preview(self, params: dict) -> str:
        return call("backup_key", params["name"]) + " (blob kept for custodians)"

    def execute(self, ctx: ExecutionContext) -> Outcome:
        from approvals.services.backups import store_backup

        name = ctx.change.key_name
        blob, request_id = ctx.gateway.backup_key(name)
        digest = hashlib.sha256(blob).hexdigest()
        return Outcome(
            result={"key": name, "bytes": len(blob), "sha256": digest},
            hsm_request_ids=[request_id] if request_id else [],
            record_inventory=lambda now: store_backup(change=ctx.change, blob=blob),
        )
