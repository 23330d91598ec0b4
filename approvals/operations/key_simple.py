"""Operations on one live key: rotate, set rotation policy, update properties, back up."""

from __future__ import annotations

import hashlib

from rest_framework import serializers

from accounts.models import Team
from approvals.models import Operation
from approvals.operations.base import (
    NamedKeyOperation,
    OperationSpec,
    Outcome,
    Problems,
    live_key,
    request_ids,
    team_may_use,
)
from approvals.operations.bulk import (
    BulkTargets,
    OneKeyOrTargets,
    TargetsField,
    live_keys_of_team,
)
from approvals.operations.diff import Change, iso, rows
from approvals.operations.fields import (
    KeyNameField,
    KeyOpsField,
    StrictBooleanField,
    StrictSerializer,
    TagsField,
    TimestampField,
    ops_problem,
)
from approvals.operations.key_create import when
from approvals.operations.plan import HsmCall, NewVersionSince
from approvals.operations.policies import RotationPolicySerializer, lifetime_actions
from keys.models import ROTATION_CLASS_TAG
from keys.selectors import key_named
from keys.services.inventory import record_key_applied, record_rotation_policy_applied

KEEP = "Leave empty to keep the current value."
POLICY_LABELS = {"lifetime_actions": "Lifetime actions", "expiry_time": "New versions expire after"}


class KeyRotate(NamedKeyOperation):
    operation = Operation.KEY_ROTATE
    state_hint = "Only a live key can be rotated"

    def plan(self, params: dict, *, request_id) -> list[HsmCall]:
        return [HsmCall("rotate_key", params["name"], already_done=NewVersionSince(params["name"]))]

    def outcome(self, ctx, results) -> Outcome:
        key = results[0]
        return Outcome(
            result={
                "key": ctx.change.key_name,
                "version": key.version,
                "previous_version": ctx.checkpoint["version_before"],
            },
            hsm_request_ids=request_ids(key.request_id),
            record_inventory=lambda now: record_key_applied(key=key, now=now),
        )


class KeySetRotationPolicyParams(OneKeyOrTargets, RotationPolicySerializer):
    """A live key of the team (or up to 500: `targets`) and the rotation policy it gets."""

    name = KeyNameField(required=False)
    targets = TargetsField(required=False)

    def validate(self, attrs):
        keys = {field: attrs[field] for field in ("name", "targets") if field in attrs}
        return {**keys, **super().validate(attrs)}


class KeySetRotationPolicy(BulkTargets, OperationSpec):
    operation = Operation.KEY_SET_ROTATION_POLICY
    params = KeySetRotationPolicyParams

    def validate(self, params: dict, *, team: Team) -> dict:
        problems = Problems()
        live_keys_of_team(problems, team, params)
        problems.raise_if_any()
        return params

    def plan(self, params: dict, *, request_id) -> list[HsmCall]:
        return [
            HsmCall(
                "set_rotation_policy",
                params["name"],
                lifetime_actions=lifetime_actions(params),
                expires_in=params.get("expiry_time"),
            )
        ]

    def current(self, params: dict) -> dict | None:
        key = None if "targets" in params else key_named(params["name"])
        if key is None:
            return None  # a bulk request: each key's policy is replaced as a whole
        policy = key.rotation_policy or {}
        return {
            "lifetime_actions": policy.get("lifetime_actions") or [],
            "expiry_time": policy.get("expiry_time"),
        }

    def changes(self, current: dict | None, params: dict, *, team: Team) -> list[Change]:
        return [] if current is None else rows(POLICY_LABELS, current, params)

    def outcome(self, ctx, results) -> Outcome:
        name, policy = ctx.change.params["name"], results[0].as_dict()
        return Outcome(
            result={"key": name, "rotation_policy": policy},
            hsm_request_ids=[],
            record_inventory=lambda now: record_rotation_policy_applied(
                name=name, policy=policy, now=now
            ),
        )


class KeyUpdateParams(StrictSerializer):
    """The properties to change on a live key; those left out stay as they are."""

    name = KeyNameField()
    enabled = StrictBooleanField(required=False, label="Enabled")
    not_before = TimestampField(required=False, label="Not before", help_text=f"UTC. {KEEP}")
    expires_on = TimestampField(
        future=True, required=False, label="Expires on", help_text=f"UTC. {KEEP}"
    )
    key_ops = KeyOpsField(required=False, help_text=f"Those the key's type allows. {KEEP}")
    tags = TagsField(required=False)

    def validate(self, attrs):
        if set(attrs) == {"name"} and not self.context.get("incomplete"):
            raise serializers.ValidationError({"name": "Give at least one property to change."})
        return attrs


def keeping_rotation_class(params: dict, key) -> dict:
    """New tags replace all of a key's tags in the HSM: the key's rotation class tag (which the
    tags input refuses) is carried over, so an update never silently drops the key's class."""
    if "tags" not in params or key is None or ROTATION_CLASS_TAG not in key.tags:
        return params
    return {**params, "tags": {**params["tags"], ROTATION_CLASS_TAG: key.tags[ROTATION_CLASS_TAG]}}


class KeyUpdate(OperationSpec):
    operation = Operation.KEY_UPDATE
    params = KeyUpdateParams

    def validate(self, params: dict, *, team: Team) -> dict:
        problems = Problems()
        key = (
            live_key(problems, params["name"])
            if team_may_use(problems, team, params.get("name"))
            else None
        )
        wrong_ops = ops_problem(key.kty, params["key_ops"]) if key and "key_ops" in params else None
        if wrong_ops:
            problems.add("key_ops", wrong_ops)
        problems.raise_if_any()
        return keeping_rotation_class(params, key)

    def plan(self, params: dict, *, request_id) -> list[HsmCall]:
        changes = {name: value for name, value in params.items() if name != "name"}
        for name in ("not_before", "expires_on"):
            if name in changes:
                changes[name] = when(changes[name])
        return [HsmCall("update_key", params["name"], **changes)]  # PATCH: a repeat is harmless

    def current(self, params: dict) -> dict | None:
        key = key_named(params["name"])
        if key is None:
            return None
        return {
            "enabled": key.enabled,
            "not_before": iso(key.not_before),
            "expires_on": iso(key.expires_on),
            "key_ops": sorted(key.key_ops),
            "tags": dict(sorted(key.tags.items())),
        }

    def changes(self, current: dict | None, params: dict, *, team: Team) -> list[Change]:
        labels = {name: field.label for name, field in self.params().fields.items()}
        labels.pop("name")
        return [] if current is None else rows(labels, current, params)

    def outcome(self, ctx, results) -> Outcome:
        key = results[0]
        return Outcome(
            result={"key": key.name, "version": key.version, "enabled": key.enabled},
            hsm_request_ids=request_ids(key.request_id),
            record_inventory=lambda now: record_key_applied(key=key, now=now),
        )


class KeyBackup(NamedKeyOperation):
    operation = Operation.KEY_BACKUP
    state_hint = "Only a live key can be backed up"

    def plan(self, params: dict, *, request_id) -> list[HsmCall]:
        return [HsmCall("backup_key", params["name"])]  # read-only: a repeat is harmless

    def outcome(self, ctx, results) -> Outcome:
        from approvals.services.backups import store_backup

        blob, request_id = results[0]
        digest = hashlib.sha256(blob).hexdigest()
        return Outcome(
            result={"key": ctx.change.key_name, "bytes": len(blob), "sha256": digest},
            hsm_request_ids=request_ids(request_id),
            record_inventory=lambda now: store_backup(change=ctx.change, blob=blob),
        )
