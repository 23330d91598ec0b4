"""role.assign / role.revoke on a team's key, limited to the self-service allow-list and to
separation of duties: a principal holds at most one role on a key."""

from __future__ import annotations

import uuid

from django.conf import settings

from accounts.models import Team
from approvals.models import Operation
from approvals.operations.base import (
    Checked,
    ExecutionContext,
    OperationSpec,
    Outcome,
    call,
    live_key,
)
from keys.gateway import HsmConflict
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
PRINCIPAL_TYPES = ("User", "Group", "ServicePrincipal")


def role_by_name_or_id(value) -> tuple[str, str] | None:
    for name, guid in SELF_SERVICE_ROLES.items():
        if value in (name, guid, ROLE_DEFINITION_PREFIX + guid):
            return name, guid
    return None


def key_scope(checked: Checked, team: Team) -> tuple[str | None, str | None]:
    scope = checked.required("scope")
    name = key_name_of_scope(scope) if isinstance(scope, str) else None
    if scope is not None and name is None:
        checked.errors.add("scope", "Self-service assignments are made on one key: /keys/<name>.")
    elif name and not name.startswith(team.key_prefix):
        checked.errors.add(
            "scope", f"Team {team.slug} may only assign roles on its keys ({team.key_prefix}*)."
        )
        name = None
    return (f"/keys/{name}" if name else None), name


def check_one_role_per_scope(checked: Checked, principal: str, scope: str) -> None:
    """Separation of duties: no second role for the principal where this key is covered."""
    held = RoleAssignmentMirror.objects.filter(
        principal_id__iexact=principal, is_present=True, scope__in=[scope, "/keys", "/"]
    ).first()
    if held:
        checked.errors.add(
            "principal_id",
            f"{principal} already holds "
            f"{held.role_name or held.role_definition_id} on {held.scope}; a "
            "principal may hold one role (separation of duties).",
        )


class RoleAssign(OperationSpec):
    operation = Operation.ROLE_ASSIGN
    fields = ("role", "principal_id", "principal_type", "scope")
    high_risk = True

    def validate(self, params: dict, *, team: Team) -> dict:
        checked = self.check(params)
        role = checked.required("role")
        found = role_by_name_or_id(role) if role is not None else None
        if role is not None and found is None:
            checked.errors.add(
                "role",
                f"{role} cannot be requested through self-service. "
                f"Allowed: {', '.join(SELF_SERVICE_ROLES)}.",
            )
        principal = checked.guid("principal_id")
        principal_type = checked.choice("principal_type", PRINCIPAL_TYPES)
        scope, key_name = key_scope(checked, team)
        live_key(checked, key_name, field_name="scope")
        if principal and principal == settings.HSM_PRINCIPAL_ID.lower():
            checked.errors.add("principal_id", "Keywarden's own identity never uses keys.")
        if principal and scope and not checked.errors.has("principal_id"):
            check_one_role_per_scope(checked, principal, scope)
        checked.errors.raise_if_any()
        return {
            "role": found[0],
            "role_definition_id": ROLE_DEFINITION_PREFIX + found[1],
            "principal_id": principal,
            "principal_type": principal_type,
            "scope": scope,
        }

    def key_name(self, params: dict) -> str:
        return key_name_of_scope(params["scope"])

    def preview(self, params: dict) -> str:
        return (
            call(
                "create_role_assignment",
                params["scope"],
                params["role_definition_id"],
                params["principal_id"],
            )
            + f"  # {params['role']} for a {params['principal_type']}"
        )

    def execute(self, ctx: ExecutionContext) -> Outcome:
        """The assignment's name derives from the request, so a repeat finds its own work."""
        p = ctx.change.params
        name = str(uuid.uuid5(uuid.NAMESPACE_URL, f"keywarden-request:{ctx.change.pk}"))
        try:
            assignment = ctx.gateway.create_role_assignment(
                scope=p["scope"],
                role_definition_id=p["role_definition_id"],
                principal_id=p["principal_id"],
                name=name,
            )
        except HsmConflict:
            assignment = next(
                (
                    a
                    for a in ctx.gateway.list_role_assignments(settings.HSM_ROLE_SCOPE)
                    if a.name == name
                ),
                None,
            )
            if assignment is None:
                raise
        return Outcome(
            result={
                "assignment": assignment.name,
                "scope": assignment.scope,
                "role": p["role"],
                "principal_id": assignment.principal_id,
            },
            hsm_request_ids=[assignment.request_id] if assignment.request_id else [],
            record_inventory=lambda now: record_assignment_applied(
                assignment=assignment,
                role_name=p["role"],
                principal_type=p["principal_type"],
                now=now,
            ),
        )


class RoleRevoke(OperationSpec):
    operation = Operation.ROLE_REVOKE
    fields = ("assignment",)
    high_risk = True

    def validate(self, params: dict, *, team: Team) -> dict:
        checked = self.check(params)
        name = checked.guid("assignment")
        row = RoleAssignmentMirror.objects.filter(name__iexact=name, is_present=True).first()
        key_name = key_name_of_scope(row.scope) if row else None
        if name and row is None:
            checked.errors.add("assignment", f"No role assignment {name} in the HSM inventory.")
        elif name and (key_name is None or not key_name.startswith(team.key_prefix)):
            checked.errors.add(
                "assignment", f"Assignment {name} is not on a key of team {team.slug}."
            )
        checked.errors.raise_if_any()
        return {
            "assignment": row.name,
            "scope": row.scope,
            "role": row.role_name,
            "principal_id": row.principal_id,
        }

    def key_name(self, params: dict) -> str:
        return key_name_of_scope(params["scope"])

    def preview(self, params: dict) -> str:
        return call("delete_role_assignment", params["scope"], params["assignment"]) + (
            f"  # {params['role']} of {params['principal_id']}"
        )

    def execute(self, ctx: ExecutionContext) -> Outcome:
        p = ctx.change.params
        request_id = ctx.gateway.delete_role_assignment(scope=p["scope"], name=p["assignment"])
        return Outcome(
            result={"assignment": p["assignment"], "revoked": True},
            hsm_request_ids=[request_id] if request_id else [],
            record_inventory=lambda now: record_assignment_removed(name=p["assignment"], now=now),
        )
