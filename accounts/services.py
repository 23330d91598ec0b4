"""Write-side use cases of the portal app: who belongs to which team, who holds which role."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

from accounts.models import Membership, RoleGrant, Team, User
from accounts.roles import GRANTED_ROLES


@transaction.atomic
def set_user_access(*, user: User, teams: Iterable[Team], roles: Iterable[str]) -> None:
    """Make the user's memberships and granted roles exactly `teams` and `roles`.

    Idempotent; used by the demo seed and by each Entra ID sign-in (group claims → access).
    Raises ValueError for a role that cannot be granted (requester follows from membership).
    """
    wanted_roles = set(roles)
    unknown = wanted_roles - {r.value for r in GRANTED_ROLES}
    if unknown:
        raise ValueError(f"not grantable portal roles: {sorted(unknown)}")
    wanted_teams = {team.pk for team in teams}

    Membership.objects.filter(user=user).exclude(team_id__in=wanted_teams).delete()
    have_teams = set(Membership.objects.filter(user=user).values_list("team_id", flat=True))
    Membership.objects.bulk_create(
        [Membership(user=user, team_id=pk) for pk in wanted_teams - have_teams]
    )
    RoleGrant.objects.filter(user=user).exclude(role__in=wanted_roles).delete()
    have_roles = set(RoleGrant.objects.filter(user=user).values_list("role", flat=True))
    RoleGrant.objects.bulk_create(
        [RoleGrant(user=user, role=role) for role in wanted_roles - have_roles]
    )
    user.__dict__.pop("roles", None)  # drop the cached_property so callers see the new roles
