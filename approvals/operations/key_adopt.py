"""key.adopt: a team takes on a key the sync found in the HSM but Keywarden never managed.

The team is the one whose key prefix the name has (as for every key); the request gives the
key a rotation class (its `keywarden-class` tag) and, once run, the key's HSM state as read
then becomes the drift baseline, so drift detection starts from it."""

from __future__ import annotations

from dataclasses import dataclass

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
from approvals.operations.diff import Change, rows
from approvals.operations.fields import KeyNameField, RotationClassField, StrictSerializer
from approvals.operations.key_create import rotation_class_exists
from approvals.operations.plan import AlreadyDone, HsmCall
from keys import drift
from keys.gateway import HsmConflict
from keys.models import ROTATION_CLASS_TAG, KeyState
from keys.selectors import key_named
from keys.services.inventory import record_key_applied

ADOPT_LABELS = {
    "managed": "Managed by Keywarden",
    "team": "Team",
    "rotation_class": "Rotation class",
}


class KeyAdoptParams(StrictSerializer):
    """An unmanaged live key of the team and the rotation class it is held to."""

    name = KeyNameField(help_text="A key made outside Keywarden, named with your team's prefix.")
    rotation_class = RotationClassField(
        help_text="The rotation standard the key is held to from now on (e.g. standard, active)."
    )


@dataclass(frozen=True)
class TagsAsSubmitted(AlreadyDone):
    """Reads the key first (HsmNotFound: it is not in the HSM). Tags already as planned: done
    (a repeat, or nothing to tag). Tags other than those the request was submitted with:
    refuse, since writing the planned tags would undo someone's change."""

    name: str
    submitted: dict
    planned: dict

    def before(self, ctx):
        key = ctx.gateway.get_key(self.name)
        if key.tags == self.planned:
            return key
        if key.tags != self.submitted:
            raise HsmConflict(
                f"The tags of {self.name} changed in the HSM since this request was submitted "
                f"(now {key.tags!r}); submit the adoption again.",
                code="Conflict",
                status=409,
            )
        return None


class KeyAdopt(OperationSpec):
    operation = Operation.KEY_ADOPT
    params = KeyAdoptParams

    def validate(self, params: dict, *, team: Team) -> dict:
        problems, name = Problems(), params.get("name")
        key = live_key(problems, name) if team_may_use(problems, team, name) else None
        if key is not None and key.is_managed:
            problems.add("name", f"Key {key.name} is already managed by Keywarden.")
        rotation_class_exists(problems, params.get("rotation_class"))
        problems.raise_if_any()
        if key is None or "rotation_class" not in params:
            return params  # the shape check refused the name or the class already
        # The tags as the inventory has them: the plan writes them back with the class.
        return {"name": key.name, "rotation_class": params["rotation_class"], "tags": key.tags}

    def plan(self, params: dict, *, request_id) -> list[HsmCall]:
        name, submitted = params["name"], params["tags"]
        planned = {**submitted, ROTATION_CLASS_TAG: params["rotation_class"]}
        return [
            HsmCall("get_rotation_policy", name),  # read-only: a repeat is harmless
            HsmCall(
                "update_key",
                name,
                tags=planned,
                already_done=TagsAsSubmitted(name, submitted, planned),
            ),
        ]

    def outcome(self, ctx, results) -> Outcome:
        policy, key = results
        stored_policy = None if policy.is_unset else policy.as_dict()
        baseline = drift.snapshot(  # what `record_key_applied` stores as `last_applied`
            state=KeyState.ACTIVE,
            enabled=key.enabled,
            key_ops=key.key_ops,
            tags=key.tags,
            not_before=key.not_before,
            expires_on=key.expires_on,
            current_version=key.version,
            rotation_policy=stored_policy,
        )
        return Outcome(
            result={
                "key": key.name,
                "team": ctx.change.team.slug,
                "rotation_class": ctx.change.params["rotation_class"],
                "version": key.version,
                "baseline": baseline,
            },
            hsm_request_ids=request_ids(policy.request_id, key.request_id),
            record_inventory=lambda now: record_key_applied(
                key=key, now=now, rotation_policy=stored_policy
            ),
        )

    def current(self, params: dict) -> dict | None:
        key = key_named(params["name"])
        if key is None:
            return None
        team = key.team.slug if key.team_id else None
        return {"managed": key.is_managed, "team": team, "rotation_class": key.rotation_class}

    def changes(self, current: dict | None, params: dict, *, team: Team) -> list[Change]:
        if current is None:
            return []
        requested = {"managed": True, "team": team.slug, "rotation_class": params["rotation_class"]}
        return rows(ADOPT_LABELS, current, requested)
