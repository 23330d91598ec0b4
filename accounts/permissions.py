"""Who may change what the accounts app keeps for a team (STYLE §2 predicates): services call
them after the lock, views and the API to offer the same actions."""

from __future__ import annotations

from accounts.models import Team, User
from accounts.roles import PRINCIPAL_DIRECTORY_ADMIN_ROLES, PRINCIPAL_DIRECTORY_MEMBER_ROLES
from core.decisions import ALLOWED, Decision, Refused


def can_manage_principals(user: User, team: Team) -> Decision:
    """A team's members (requesters) and admins register, rename and remove its principals."""
    if user.roles & PRINCIPAL_DIRECTORY_ADMIN_ROLES:
        return ALLOWED
    is_member = user.memberships.filter(team=team).exists()
    if not (user.roles & PRINCIPAL_DIRECTORY_MEMBER_ROLES and is_member):
        return Refused(
            f"Only members of team {team.slug} and admins change its principal directory."
        )
    return ALLOWED
