"""Read-side queries of the portal app."""

from __future__ import annotations

from django.db.models import QuerySet

from accounts.models import Team, User


def teams_of(user: User) -> QuerySet[Team]:
    """Teams the user is a member of (their requester scope), ordered by slug."""
    return Team.objects.filter(memberships__user=user).order_by("slug")


def teams_visible_to(user: User) -> QuerySet[Team]:
    """Teams whose keys and requests the user may read: all for custodians, admins, auditors."""
    return Team.objects.all() if user.sees_all_teams else teams_of(user)


def users_with_role(role: str) -> QuerySet[User]:
    """Active users holding a granted portal role (e.g. the custodians to notify)."""
    return User.objects.filter(is_active=True, role_grants__role=role).distinct()
