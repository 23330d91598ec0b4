"""Read-side queries of the approvals app; every list and detail starts from one of these."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Count, Func, IntegerField, OuterRef, Prefetch, QuerySet, Subquery

from accounts.models import Team, User
from accounts.roles import DECIDING_ROLES
from accounts.selectors import teams_of
from approvals.models import Approval, ChangeRequest, Decision, Execution, State
from approvals.permissions import submits_for_every_team
from core.errors import NotFound


def approvals_count() -> Subquery:
    """The approving votes of the outer request: a correlated subquery, not a GROUP BY over
    every request, so `count()` leaves it out and PostgreSQL runs it for the rows returned
    (not those an OFFSET skips when paged by key first: core.paging)."""
    votes = (
        Approval.objects.filter(request=OuterRef("pk"), decision=Decision.APPROVE)
        .order_by()
        .values(count=Func("pk", function="COUNT"))  # no GROUP BY: one row, 0 when none
    )
    return Subquery(votes, output_field=IntegerField())


def teams_submitting(user: User, operation: str) -> QuerySet[Team]:
    """The teams `user` may submit `operation` for (a request form's choices), by slug."""
    if submits_for_every_team(user, operation):
        return Team.objects.order_by("slug")
    return teams_of(user)


def requests_visible_to(user: User) -> QuerySet[ChangeRequest]:
    """Requesters see their teams' requests; custodians, admins and auditors see all; each
    with `approvals_count`, newest first."""
    requests = (
        ChangeRequest.objects.select_related("team", "requester")
        .annotate(approvals_count=approvals_count())
        .order_by("-created_at")
    )
    return requests if user.sees_all_teams else requests.filter(team__in=teams_of(user))


def request_detail_for(user: User, request_id) -> ChangeRequest:
    """One visible request with approvals and attempts. Raises NotFound."""
    change = (
        requests_visible_to(user)
        .prefetch_related(
            Prefetch("approvals", queryset=Approval.objects.select_related("approver")),
            Prefetch("executions", queryset=Execution.objects.order_by("attempt")),
        )
        .filter(pk=request_id)
        .first()
    )
    if change is None:
        raise NotFound("No such request that you may see.")
    return change


def approval_queue_for(custodian: User, *, now: datetime) -> QuerySet[ChangeRequest]:
    """Requests this custodian may decide now, oldest first: `permissions.can_decide` as a
    query (a decider, not the requester, independent of the team where the policy says so,
    pending and not past the deadline, no vote yet)."""
    if not custodian.roles & DECIDING_ROLES:
        return ChangeRequest.objects.none()
    own_teams = custodian.memberships.values("team_id")
    return (
        requests_visible_to(custodian)
        .filter(state=State.PENDING, expires_at__gt=now)
        .exclude(require_independent_approvers=True, team__in=own_teams)
        .exclude(requester=custodian)
        .exclude(approvals__approver=custodian)
        .order_by("created_at")
    )


def decider_teams() -> dict[int, frozenset[int]]:
    """Active users who may decide on requests (DECIDING_ROLES), by pk, each with the ids of
    the teams they belong to (for independent-approver policies). One query."""
    rows = (
        User.objects.filter(is_active=True, role_grants__role__in=DECIDING_ROLES)
        .values_list("pk", "memberships__team_id")
        .distinct()
    )
    teams: dict[int, set[int]] = {}
    for pk, team_id in rows:
        teams.setdefault(pk, set()).update([team_id] if team_id is not None else [])
    return {pk: frozenset(team_ids) for pk, team_ids in teams.items()}


def quorum_warning(
    change: ChangeRequest, *, deciders: dict[int, frozenset[int]] | None = None
) -> str:
    """Empty while a pending request can still reach quorum; otherwise why it never will:
    the custodians who could still approve (not the requester, not one who voted, not a
    member of the team when the policy wants independent approvers) are fewer than the
    approvals still needed. `deciders` (from `decider_teams`) spares the query for a list."""
    if change.state != State.PENDING:
        return ""
    deciders = decider_teams() if deciders is None else deciders
    votes = list(change.approvals.all())  # prefetched on the detail page and in lists
    voted = {vote.approver_id for vote in votes}
    needed = change.approvals_required - sum(v.decision == Decision.APPROVE for v in votes)
    left = sum(
        1
        for pk, team_ids in deciders.items()
        if pk != change.requester_id
        and pk not in voted
        and not (change.require_independent_approvers and change.team_id in team_ids)
    )
    if left >= needed:
        return ""
    reasons = "the requester cannot approve their own request"
    if change.require_independent_approvers:
        reasons += f", and members of team {change.team.slug} may not approve its requests"
    return (
        f"This request can never reach quorum: it needs {needed} more "
        f"{_approvals(needed)} but only {left} {_custodians(left)} can still approve "
        f"({reasons}). Cancel it, or ask an admin to add custodians or lower the policy."
    )


def _approvals(count: int) -> str:
    return "approval" if count == 1 else "approvals"


def _custodians(count: int) -> str:
    return "custodian" if count == 1 else "custodians"


def requests_for_key(user: User, key_name: str) -> QuerySet[ChangeRequest]:
    return requests_visible_to(user).filter(key_name=key_name).order_by("-created_at")


def request_counts() -> dict[tuple[str, str], int]:
    """(state, operation) → how many requests, every request counted (operations: one
    grouped query; the caller may see everything)."""
    rows = (
        ChangeRequest.objects.order_by().values_list("state", "operation").annotate(n=Count("pk"))
    )
    return {(state, operation): n for state, operation, n in rows}


def oldest_approved_waiting() -> ChangeRequest | None:
    """The approved request that has waited longest for a worker to start it (None: none)."""
    return ChangeRequest.objects.filter(state=State.APPROVED).order_by("decided_at", "pk").first()
