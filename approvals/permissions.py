"""Who may do what to a change request, and when (STYLE §2): predicates that read only the
objects they are given (and a request's own approvals). Services call them right after taking
the row lock (`ensure_allowed`); views and the API call them to offer the same actions
(`allowed_actions`), so a button is shown exactly when the service would accept it."""

from __future__ import annotations

from datetime import datetime

from accounts.models import Team, User
from accounts.roles import (
    ADOPTING_ROLES,
    BACKUP_DOWNLOAD_ROLES,
    DECIDING_ROLES,
    POLICY_EDIT_ROLES,
    RETRYING_ROLES,
    SUBMITTING_ROLES,
)
from approvals.models import ChangeRequest, Operation, State
from approvals.states import ensure_can_move
from core.decisions import ALLOWED, Decision, Refused, ensure_allowed  # noqa: F401 (re-exported)
from core.errors import IllegalTransition
from custody.permissions import can_approve_ceremony

# The names `allowed_actions` answers with (the API's `allowed_actions` field).
APPROVE, REJECT, CANCEL, RETRY, DOWNLOAD_BACKUP = (
    "approve",
    "reject",
    "cancel",
    "retry",
    "download_backup",
)
REQUEST_ACTIONS = (APPROVE, REJECT, CANCEL, RETRY, DOWNLOAD_BACKUP)


def _may_move(change: ChangeRequest, to: str) -> Decision:
    try:
        ensure_can_move(change, to)
    except IllegalTransition as refusal:
        return Refused(refusal.message, conflict=True)
    return ALLOWED


def can_submit(user: User, team: Team | None, *, operation: str | None = None) -> Decision:
    """Members of the team ask for changes on its keys (a key of no team: nobody); admins
    also ask to adopt an unmanaged key for a team (`key.adopt`)."""
    if team is None:
        return Refused("Changes are asked for by a team's members; this belongs to no team.")
    if submits_for_every_team(user, operation):
        return ALLOWED
    if not user.roles & SUBMITTING_ROLES or not user.memberships.filter(team=team).exists():
        if operation == Operation.KEY_ADOPT:
            return Refused(f"Only admins and members of team {team.slug} adopt keys for it.")
        return Refused(f"You are not a member of team {team.slug}.")
    return ALLOWED


def can_request(user: User, operation: str) -> Decision:
    """Whether `user` may ask for `operation` for some team (the request forms)."""
    if user.roles & SUBMITTING_ROLES or submits_for_every_team(user, operation):
        return ALLOWED
    return Refused("Changes are asked for by team members; admins may also ask to adopt keys.")


def submits_for_every_team(user: User, operation: str | None) -> bool:
    """Admins ask to adopt a key for any team; everything else is asked for by members."""
    return operation == Operation.KEY_ADOPT and bool(user.roles & ADOPTING_ROLES)


def is_member(user: User, team_id: int) -> bool:
    """Whether `user` belongs to the team (one query)."""
    return user.memberships.filter(team_id=team_id).exists()


def can_decide(user: User, change: ChangeRequest, *, now: datetime) -> Decision:
    """Approve or reject (one rule for both): a custodian other than the requester, not of the
    requesting team when the policy requires independent approvers, once, while the request is
    pending and not past its deadline."""
    if not user.roles & DECIDING_ROLES:
        return Refused("Only key custodians approve or reject requests.")
    if change.requester_id == user.pk:
        return Refused("You cannot decide on your own request.")
    if change.require_independent_approvers and is_member(user, change.team_id):
        return Refused(
            f"The {change.operation} policy requires independent approvers: a member of the "
            "requesting team may not decide on its requests."
        )
    if change.operation == Operation.HSM_SECURITY_DOMAIN_DOWNLOAD:
        independent = can_approve_ceremony(user)
        if not independent:
            return independent
    pending = _may_move(change, State.APPROVED)
    if not pending:
        return pending
    if change.expires_at <= now:
        return Refused("The request has expired.", conflict=True)
    # `.all()` so a prefetched list (the detail page) costs no query.
    if any(vote.approver_id == user.pk for vote in change.approvals.all()):
        return Refused(
            "You have already decided on this request; each custodian counts once.",
            conflict=True,
        )
    return ALLOWED


can_approve = can_reject = can_decide


def can_cancel(user: User, change: ChangeRequest) -> Decision:
    """The requester withdraws their own request while it is pending."""
    if change.requester_id != user.pk:
        return Refused("Only the requester can cancel a request.")
    return _may_move(change, State.CANCELLED)


def can_retry(user: User, change: ChangeRequest) -> Decision:
    """A custodian sends a failed execution back to the workers."""
    if not user.roles & RETRYING_ROLES:
        return Refused("Only custodians retry failed requests.")
    if change.state != State.FAILED:
        return Refused(IllegalTransition(change.state, "retry").message, conflict=True)
    return ALLOWED


def can_download_backup(user: User, change: ChangeRequest) -> Decision:
    """A custodian takes the blob of a key.backup request that succeeded."""
    if not user.roles & BACKUP_DOWNLOAD_ROLES:
        return Refused("Only custodians download key backups.")
    if change.operation != Operation.KEY_BACKUP or change.state != State.SUCCEEDED:
        return Refused("Only a key.backup request that succeeded has a backup.", conflict=True)
    return ALLOWED


def can_edit_policy(user: User) -> Decision:
    """Admins edit approval policies."""
    if not user.roles & POLICY_EDIT_ROLES:
        return Refused("Only admins edit approval policies.")
    return ALLOWED


def allowed_actions(user: User, change: ChangeRequest, *, now: datetime) -> list[str]:
    """The actions of `REQUEST_ACTIONS` the services would accept from `user` right now."""
    decide = can_decide(user, change, now=now)
    decisions = {
        APPROVE: decide,
        REJECT: decide,
        CANCEL: can_cancel(user, change),
        RETRY: can_retry(user, change),
        DOWNLOAD_BACKUP: can_download_backup(user, change),
    }
    return [name for name in REQUEST_ACTIONS if decisions[name]]
