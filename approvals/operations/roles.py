"""role.assign / role.revoke on a team's key, limited to the self-service allow-list and to
separation of duties: a principal holds at most one role on a key."""

from __future__ import annotations

import uuid

from django.conf import settings
from rest_framework import serializers

from accounts.models import PrincipalType, Team
from approvals.models import Operation
from approvals.operations.base import (
    OperationSpec,
    Outcome,
    Problems,
    live_key,
    request_ids,
)
from approvals.operations.fields import (
    KEY_NAME_PATTERN,
    GuidField,
    StrictCharField,
    StrictChoiceField,
    StrictSerializer,
)
from approvals.operations.plan import AssignmentNamed, HsmCall
from core.identifiers import full_match
from keys.models import RoleAssignmentMirror
from keys.services.inventory import record_assignment_applied, record_assignment_removed
from keys.services.teams import key_name_of_scope

ROLE_DEFINITION_PREFIX = "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/"
SELF_SERVICE_ROLES = {
    "Managed HSM Crypto User": "21dbd100-6940-42c2-9190-5d6cb909625b",
    "Managed HSM Crypto Service Encryption User": "33413926-3206-4cdd-b39a-83574fe37a17",
    "Managed HSM Crypto Service Release User": "21dbd100-6940-42c2-9190-5d6cb909625c",
    "Managed HSM Crypto Auditor": "2c18b078-7c48-4d3a-af88-5a3a1b3f82b3",
}
PRINCIPAL_TYPES = tuple(PrincipalType.values)  # "User", "Group", "ServicePrincipal"


def role_by_name_or_id(value) -> tuple[str, str] | None:
    for name, guid in SELF_SERVICE_ROLES.items():
        if value in (name, guid, ROLE_DEFINITION_PREFIX + guid):
            return name, guid
    return None


class RoleField(StrictChoiceField):
    """A self-service role by name (its role definition id is accepted too) → its name."""

    def __init__(self, **kwargs):
        kwargs.setdefault("label", "Role")
        kwargs.setdefault("help_text", "A self-service role, by name or role definition id.")
        super().__init__(tuple(SELF_SERVICE_ROLES), **kwargs)

    def to_internal_value(self, data):
        found = role_by_name_or_id(data) if isinstance(data, str) else None
        if found is None:
            raise serializers.ValidationError(
                f"{data} cannot be requested through self-service. "
                f"Allowed: {', '.join(SELF_SERVICE_ROLES)}."
            )
        return found[0]


class KeyScopeField(StrictCharField):
    """`/keys/<name>`: self-service assignments are made on one key."""

    def to_internal_value(self, data):
        name = key_name_of_scope(super().to_internal_value(data))
        if name is None or not full_match(KEY_NAME_PATTERN, name):
            raise serializers.ValidationError(
                "Self-service assignments are made on one key: /keys/<name>."
            )
        return f"/keys/{name}"


class PrincipalIdField(GuidField):
    """The principal's object id; the form suggests the team's directory
    (accounts.TeamPrincipal), any GUID is accepted (the preview warns about one not listed)."""


class RoleAssignParams(StrictSerializer):
    """A self-service role for a principal on one key of the team."""

    role = RoleField()
    principal_id = PrincipalIdField(
        label="Principal object id",
        help_text="The Entra ID object id (GUID) of the principal: pick one from your team's "
        "principal directory, or type any object id.",
    )
    principal_type = StrictChoiceField(PRINCIPAL_TYPES, label="Principal type")
    scope = KeyScopeField(label="Scope", help_text="One of your team's keys: /keys/<name>.")


class RoleRevokeParams(StrictSerializer):
    """A role assignment on one key of the team, by its name."""

    assignment = GuidField(
        label="Role assignment", help_text="The assignment's name (GUID), as the key page lists."
    )


SECOND_ROLE_REFUSED = (
    "This principal already holds a role that covers this key, and a principal may hold only "
    "one (separation of duties)."
)
SCOPE_OUTSIDE_TEAM = (
    "{scope} is not one of team {team.slug}'s keys: the team assigns roles only on its own keys "
    "({team.key_prefix}*)."
)
ASSIGNMENT_NOT_FOUND = "No role assignment {name} on a key of team {team}."


def check_one_role_per_scope(problems: Problems, principal: str, scope: str) -> None:
    """Separation of duties: no second role for the principal where this key is covered. The
    refusal names the rule only: which role the principal holds, and where, is not the
    requester's to learn (the assignment may be another team's, or HSM-wide)."""
    held = RoleAssignmentMirror.objects.filter(
        principal_id__iexact=principal, is_present=True, scope__in=[scope, "/keys", "/"]
    ).exists()
    if held:
        problems.add("principal_id", SECOND_ROLE_REFUSED)


def assignment_name(request_id) -> str:
    """Derived from the request, so a repeated attempt finds its own assignment."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"keywarden-request:{request_id}"))


class RoleAssign(OperationSpec):
    operation = Operation.ROLE_ASSIGN
    params = RoleAssignParams
    high_risk = True

    def validate(self, params: dict, *, team: Team) -> dict:
        problems, scope, principal = Problems(), params.get("scope"), params.get("principal_id")
        key_name = key_name_of_scope(scope) if scope else None
        is_ours = bool(key_name) and key_name.startswith(team.key_prefix)
        if key_name and not is_ours:
            problems.add("scope", SCOPE_OUTSIDE_TEAM.format(scope=scope, team=team))
        elif key_name:
            live_key(problems, key_name, field="scope")
        if principal and principal == settings.HSM_PRINCIPAL_ID.lower():
            problems.add("principal_id", "Keywarden's own identity never uses keys.")
        elif principal and is_ours:
            check_one_role_per_scope(problems, principal, scope)
        problems.raise_if_any()
        return {
            "role": params.get("role"),
            "role_definition_id": ROLE_DEFINITION_PREFIX
            + SELF_SERVICE_ROLES.get(params.get("role"), ""),
            "principal_id": principal,
            "principal_type": params.get("principal_type"),
            "scope": scope,
        }

    def key_name(self, params: dict) -> str:
        return key_name_of_scope(params["scope"])

    def plan(self, params: dict, *, request_id) -> list[HsmCall]:
        name = assignment_name(request_id)
        return [
            HsmCall(
                "create_role_assignment",
                scope=params["scope"],
                role_definition_id=params["role_definition_id"],
                principal_id=params["principal_id"],
                name=name,
                already_done=AssignmentNamed(name),
            )
        ]

    def outcome(self, ctx, results) -> Outcome:
        p, assignment = ctx.change.params, results[0]
        return Outcome(
            result={
                "assignment": assignment.name,
                "scope": assignment.scope,
                "role": p["role"],
                "principal_id": assignment.principal_id,
            },
            hsm_request_ids=request_ids(assignment.request_id),
            record_inventory=lambda now: record_assignment_applied(
                assignment=assignment,
                role_name=p["role"],
                principal_type=p["principal_type"],
                now=now,
            ),
        )


class RoleRevoke(OperationSpec):
    operation = Operation.ROLE_REVOKE
    params = RoleRevokeParams
    high_risk = True

    def validate(self, params: dict, *, team: Team) -> dict:
        problems, name = Problems(), params.get("assignment")
        row = (
            RoleAssignmentMirror.objects.filter(name__iexact=name, is_present=True).first()
            if name
            else None
        )
        key_name = key_name_of_scope(row.scope) if row else None
        # One answer for absent and for another team's: whether it exists is not theirs to learn.
        if name and (key_name is None or not key_name.startswith(team.key_prefix)):
            problems.add("assignment", ASSIGNMENT_NOT_FOUND.format(name=name, team=team.slug))
        problems.raise_if_any()
        if row is None:  # the shape was wrong: nothing to look up
            return params
        return {
            "assignment": row.name,
            "scope": row.scope,
            "role": row.role_name,
            "principal_id": row.principal_id,
        }

    def key_name(self, params: dict) -> str:
        return key_name_of_scope(params["scope"])

    def plan(self, params: dict, *, request_id) -> list[HsmCall]:
        return [
            HsmCall("delete_role_assignment", scope=params["scope"], name=params["assignment"])
        ]  # absent already counts as removed: a repeat is harmless

    def outcome(self, ctx, results) -> Outcome:
        name = ctx.change.params["assignment"]
        return Outcome(
            result={"assignment": name, "revoked": True},
            hsm_request_ids=request_ids(results[0]),
            record_inventory=lambda now: record_assignment_removed(name=name, now=now),
        )
