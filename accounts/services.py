"""Write-side use cases of accounts: teams, who belongs to which team, who holds which role.

Every change records an audit event through the caller's `ctx` (an AuditContext), in the same
transaction; the Django admin for these models is read-only."""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from django.contrib.auth.hashers import make_password
from django.core.exceptions import ValidationError
from django.db import transaction

from accounts import events
from accounts.models import Membership, RoleGrant, Team, TeamPrincipal, User
from accounts.permissions import can_manage_principals
from accounts.roles import GRANTED_ROLES
from core.errors import Invalid, NotAllowed, NotFound
from core.events import EventRecorder

TEAM_FIELDS = ("name", "key_prefix", "entra_group_id")


@transaction.atomic
def set_user_access(
    *, user: User, teams: Iterable[Team], roles: Iterable[str], ctx: EventRecorder
) -> None:
    """Make the user's memberships and granted roles exactly `teams` and `roles`; one audit
    event per membership or role added or removed (none when nothing changes).

    Idempotent; used by the demo seed and by each Entra ID sign-in (group claims → access).
    Raises ValueError for a role that cannot be granted (requester follows from membership).
    """
    wanted_roles = set(roles)
    unknown = wanted_roles - {r.value for r in GRANTED_ROLES}
    if unknown:
        raise ValueError(f"not grantable portal roles: {sorted(unknown)}")
    wanted_teams = {team.pk: team for team in teams}

    for membership in Membership.objects.filter(user=user).select_related("team"):
        if membership.team_id not in wanted_teams:
            membership.delete()
            _record(ctx, events.MEMBERSHIP_REMOVED, user, team=membership.team, removed=True)
        wanted_teams.pop(membership.team_id, None)
    for team in wanted_teams.values():
        Membership.objects.create(user=user, team=team)
        _record(ctx, events.MEMBERSHIP_ADDED, user, team=team)

    for grant in RoleGrant.objects.filter(user=user):
        if grant.role not in wanted_roles:
            grant.delete()
            _record(ctx, events.ROLE_REVOKED, user, role=grant.role, removed=True)
        wanted_roles.discard(grant.role)
    for role in sorted(wanted_roles):
        RoleGrant.objects.create(user=user, role=role)
        _record(ctx, events.ROLE_GRANTED, user, role=role)
    user.__dict__.pop("roles", None)  # drop the cached_property so callers see the new roles


def _record(ctx, action, user, *, team=None, role=None, removed=False) -> None:
    what = {"team": team.slug} if team is not None else {"role": role}
    before, after = (what, None) if removed else (None, what)
    ctx.record(action, target=user, team=team, before=before, after=after)


@transaction.atomic
def save_team(
    *,
    slug: str,
    name: str,
    key_prefix: str,
    entra_group_id: UUID | None = None,
    ctx: EventRecorder,
) -> Team:
    """Create the team `slug` or change its name, key prefix or Entra group; records
    `team.created` or `team.updated` (the changed fields before and after; nothing when
    nothing changed). Raises Invalid with field errors (e.g. a malformed or taken prefix)."""
    team = Team.objects.select_for_update().filter(slug=slug).first()
    created = team is None
    team = team or Team(slug=slug)
    before = {field: _plain(getattr(team, field)) for field in TEAM_FIELDS}
    team.name, team.key_prefix, team.entra_group_id = name, key_prefix, entra_group_id
    after = {field: _plain(getattr(team, field)) for field in TEAM_FIELDS}
    changed = [field for field in TEAM_FIELDS if before[field] != after[field]]
    if not created and not changed:
        return team
    try:
        team.full_clean()
    except ValidationError as error:
        raise Invalid(error.message_dict, "The team is not valid.") from error
    team.save()
    if created:
        ctx.record(events.TEAM_CREATED, target=team, after={"slug": slug, **after})
    else:
        ctx.record(
            events.TEAM_UPDATED,
            target=team,
            before={field: before[field] for field in changed},
            after={field: after[field] for field in changed},
        )
    return team


SERVICE_ACCOUNT_FIELDS = ("username", "first_name", "is_active")


@transaction.atomic
def save_service_account(
    *,
    object_id: UUID,
    username: str,
    display_name: str,
    teams: Iterable[Team],
    roles: Iterable[str],
    is_active: bool = True,
    ctx: EventRecorder,
) -> User:
    """Create or change the service account of the Entra ID application whose service principal
    is `object_id`, and make its teams and roles exactly these. Records
    `service_account.created`/`_updated` (changed fields) plus the access events. It has no
    usable password: it signs in only with app-only Entra ID bearer tokens. Raises Invalid
    (malformed or taken username, object id of a user who is not a service account)."""
    account = User.objects.select_for_update().filter(entra_object_id=object_id).first()
    if account is not None and not account.is_service_account:
        raise Invalid(
            {"object_id": ["This object id belongs to a user, not a service account."]},
            "The service account is not valid.",
        )
    created = account is None
    if created:
        account = User(entra_object_id=object_id, is_service_account=True)
        account.set_unusable_password()
    before = {field: getattr(account, field) for field in SERVICE_ACCOUNT_FIELDS}
    account.username, account.first_name, account.is_active = username, display_name, is_active
    after = {field: getattr(account, field) for field in SERVICE_ACCOUNT_FIELDS}
    changed = [field for field in SERVICE_ACCOUNT_FIELDS if before[field] != after[field]]
    if created or changed:
        try:
            account.full_clean(exclude=["password"])
        except ValidationError as error:
            raise Invalid(error.message_dict, "The service account is not valid.") from error
        account.save()
    if created:
        ctx.record(
            events.SERVICE_ACCOUNT_CREATED,
            target=account,
            after={"object_id": str(object_id), **after},
        )
    elif changed:
        ctx.record(
            events.SERVICE_ACCOUNT_UPDATED,
            target=account,
            before={field: before[field] for field in changed},
            after={field: after[field] for field in changed},
        )
    set_user_access(user=account, teams=teams, roles=roles, ctx=ctx)
    return account


PRINCIPAL_FIELDS = ("display_name", "description", "principal_type")


@transaction.atomic
def save_principal(
    *,
    team: Team,
    actor: User,
    object_id: UUID,
    display_name: str,
    principal_type: str,
    description: str = "",
    ctx: EventRecorder,
) -> TeamPrincipal:
    """Register the principal `object_id` in the team's directory, or change its name, type or
    description; records `principal.registered` or `principal.updated` (changed fields;
    nothing when nothing changed). Raises NotAllowed (not a member of the team nor an admin),
    Invalid (field errors)."""
    refusal = can_manage_principals(actor, team)
    if not refusal:
        raise NotAllowed(refusal.reason)
    principal = (
        TeamPrincipal.objects.select_for_update().filter(team=team, object_id=object_id).first()
    )
    created = principal is None
    principal = principal or TeamPrincipal(team=team, object_id=object_id)
    before = {field: getattr(principal, field) for field in PRINCIPAL_FIELDS}
    principal.display_name, principal.principal_type = display_name.strip(), principal_type
    principal.description = description.strip()
    after = {field: getattr(principal, field) for field in PRINCIPAL_FIELDS}
    changed = [field for field in PRINCIPAL_FIELDS if before[field] != after[field]]
    if not created and not changed:
        return principal
    try:
        principal.full_clean(exclude=["team"])
    except ValidationError as error:
        raise Invalid(error.message_dict, "The principal is not valid.") from error
    principal.save()
    if created:
        ctx.record(
            events.PRINCIPAL_REGISTERED,
            target=principal,
            team=team,
            after={"object_id": str(object_id), **after},
        )
    else:
        ctx.record(
            events.PRINCIPAL_UPDATED,
            target=principal,
            team=team,
            before={field: before[field] for field in changed},
            after={field: after[field] for field in changed},
        )
    return principal


@transaction.atomic
def remove_principal(*, team: Team, actor: User, object_id: UUID, ctx: EventRecorder) -> None:
    """Take the principal out of the team's directory (its role assignments stay: they live
    in the HSM); records `principal.removed`. Raises NotAllowed, NotFound."""
    refusal = can_manage_principals(actor, team)
    if not refusal:
        raise NotAllowed(refusal.reason)
    principal = (
        TeamPrincipal.objects.select_for_update().filter(team=team, object_id=object_id).first()
    )
    if principal is None:
        raise NotFound(f"No principal {object_id} in the directory of team {team.slug}.")
    before = {"object_id": str(object_id), **{f: getattr(principal, f) for f in PRINCIPAL_FIELDS}}
    ctx.record(events.PRINCIPAL_REMOVED, target=principal, team=team, before=before)
    principal.delete()


def _plain(value):
    return str(value) if isinstance(value, UUID) else value


SCHEDULER_USERNAME = "keywarden-scheduler"


def scheduler_user() -> User:
    """The requester of the requests Keywarden opens itself (rotation schedule runs). It
    cannot sign in (inactive, no usable password) and belongs to no team or role."""
    user, _ = User.objects.get_or_create(
        username=SCHEDULER_USERNAME,
        defaults={
            "first_name": "Keywarden",
            "last_name": "scheduler",
            "is_active": False,
            "password": make_password(None),
        },
    )
    return user
