"""Approval policies: defaults per operation, and the admin's edits (audited)."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction

from accounts.models import User
from accounts.roles import Role
from approvals.models import ApprovalPolicy, Operation
from audit.actions import Action
from audit.context import AuditContext
from audit.services import record_event
from core.errors import Invalid, NotAllowed, NotFound

DEFAULT_APPROVALS = {Operation.KEY_PURGE: 3}
DEFAULT_MAX_WAIT = timedelta(days=7)
APPROVER_ROLES = (Role.CUSTODIAN,)


def policy_for(operation: str) -> ApprovalPolicy:
    """The stored policy, or the built-in default (2 approvals, 3 for purge, 7 days)."""
    return ApprovalPolicy.objects.filter(operation=operation).first() or ApprovalPolicy(
        operation=operation,
        approvals_required=DEFAULT_APPROVALS.get(operation, 2),
        approver_role=Role.CUSTODIAN,
        max_wait=DEFAULT_MAX_WAIT,
    )


def all_policies() -> list[ApprovalPolicy]:
    return [policy_for(operation) for operation in Operation.values]


@transaction.atomic
def update_policy(
    *,
    operation: str,
    admin: User,
    ctx: AuditContext,
    approvals_required: int | None = None,
    max_wait: timedelta | None = None,
) -> ApprovalPolicy:
    """Change one operation's policy. Admins only; never fewer than two approvals.
    Applies to requests submitted afterwards. Raises NotAllowed, NotFound, Invalid."""
    if not admin.has_role(Role.ADMIN):
        raise NotAllowed("Only admins edit approval policies.")
    if operation not in Operation.values:
        raise NotFound(f"No operation {operation!r}.")
    errors = {}
    if approvals_required is not None and not 2 <= approvals_required <= 5:
        errors["approvals_required"] = ["Between 2 and 5: dual approval is the minimum."]
    if max_wait is not None and not timedelta(hours=1) <= max_wait <= timedelta(days=90):
        errors["max_wait"] = ["Between one hour and 90 days."]
    if errors:
        raise Invalid(errors)
    current = policy_for(operation)
    before = {
        "approvals_required": current.approvals_required,
        "max_wait": current.max_wait.total_seconds(),
    }
    policy, _ = ApprovalPolicy.objects.select_for_update().get_or_create(
        operation=operation,
        defaults={
            "approvals_required": current.approvals_required,
            "approver_role": current.approver_role,
            "max_wait": current.max_wait,
        },
    )
    if approvals_required is not None:
        policy.approvals_required = approvals_required
    if max_wait is not None:
        policy.max_wait = max_wait
    policy.updated_by = admin
    policy.save()
    record_event(
        ctx,
        Action.POLICY_UPDATED,
        target=policy,
        before=before,
        after={
            "approvals_required": policy.approvals_required,
            "max_wait": policy.max_wait.total_seconds(),
        },
    )
    return policy
