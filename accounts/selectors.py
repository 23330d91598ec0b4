"""Read-side queries of the portal app."""

from __future__ import annotations

from uuid import UUID

from django.db.models import QuerySet

from accounts.models import Team, TeamPrincipal, User
from core.errors import NotFound


def teams_of(user: User) -> QuerySet[Team]:
    """Teams the user is a member of (their requester scope), ordered by slug."""
    return Team.objects.filter(memberships__user=user).order_by("slug")


def teams_visible_to(user: User) -> QuerySet[Team]:
    """Teams whose keys and requests the user may read: all for custodians, admins, auditors."""
    return Team.objects.all() if user.sees_all_teams else teams_of(user)


def team_visible_to(user: User, slug: str) -> Team:
    """One team the user may read (a member, or a custodian, admin or auditor). Raises
    NotFound for any other, whether it exists or not."""
    team = teams_visible_to(user).filter(slug=slug).first()
    if team is None:
        raise NotFound(f"No team {slug!r} that you may see.")
    return team


def users_with_role(role: str) -> QuerySet[User]:
    """Active users holding a granted portal role (e.g. the custodians to notify)."""
    return User.objects.filter(is_active=True, role_grants__role=role).distinct()


def user_ids_with_roles(roles) -> list[int]:
    """The ids of the active users holding any of `roles`, role by role (sorted), each once."""
    users = (user.pk for role in sorted(roles) for user in users_with_role(role).order_by("pk"))
    return list(dict.fromkeys(users))


def principals_of(teams) -> QuerySet[TeamPrincipal]:
    """The directory entries of `teams` (a team, or several), by team and display name."""
    teams = [teams] if isinstance(teams, Team) else teams
    return TeamPrincipal.objects.filter(team__in=teams).select_related("team")


def principal_names(object_ids, *, team_id: int | None) -> dict[str, str]:
    """`{object id (lower-case text): display name}` from the directory of team `team_id`
    (nothing for a key of no team): what pages show beside a principal id."""
    ids = set()
    for object_id in object_ids:
        try:
            ids.add(UUID(str(object_id)))
        except ValueError:  # a mirror row may name something that is no GUID
            continue
    if team_id is None or not ids:
        return {}
    rows = TeamPrincipal.objects.filter(team_id=team_id, object_id__in=ids)
    return {str(row.object_id): row.display_name for row in rows}
