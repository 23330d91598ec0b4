"""Users, teams and portal roles. Roles come from Entra ID groups (or the demo seed)."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.core.validators import RegexValidator
from django.db import models
from django.utils.functional import cached_property

from accounts.roles import GLOBAL_READ_ROLES, GRANTED_ROLES, Role

# The rotation class of a key with no class tag, unless its team names another (a slug of
# keys.RotationStandard: accounts sits below keys, so the team stores it as plain text).
DEFAULT_ROTATION_CLASS = "standard"

key_prefix_validator = RegexValidator(
    r"\A[a-z0-9][a-z0-9-]{0,30}-\Z",
    "A key prefix is 2-32 lowercase letters, digits or dashes and ends with a dash (e.g. pay-).",
)


class User(AbstractUser):
    """A portal user; `entra_object_id` links the Entra ID account (None for local demo users).

    A service account (`is_service_account`) is an Entra ID application: `entra_object_id` is
    its service principal's object id, it signs in only with app-only bearer tokens."""

    entra_object_id = models.UUIDField(null=True, blank=True, unique=True)
    is_service_account = models.BooleanField(default=False)

    @cached_property
    def roles(self) -> frozenset[str]:
        """Portal roles of this user (cached per instance, i.e. per request)."""
        granted = {grant.role for grant in self.role_grants.all()}
        if self.memberships.exists():
            granted.add(Role.REQUESTER)
        return frozenset(granted)

    def has_role(self, role: Role | str) -> bool:
        return role in self.roles

    @property
    def sees_all_teams(self) -> bool:
        """Custodians, admins and auditors read across teams; requesters only their own."""
        return bool(self.roles & GLOBAL_READ_ROLES)


class Team(models.Model):
    """An app team: owns the keys whose names start with its `key_prefix`."""

    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=50, unique=True)
    key_prefix = models.CharField(max_length=32, unique=True, validators=[key_prefix_validator])
    entra_group_id = models.UUIDField(null=True, blank=True, unique=True)
    members = models.ManyToManyField(User, through="Membership", related_name="teams")
    default_rotation_class = models.SlugField(max_length=50, default=DEFAULT_ROTATION_CLASS)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.name

    def owns_key_name(self, key_name: str) -> bool:
        return key_name.startswith(self.key_prefix)


class Membership(models.Model):
    """A user's membership of a team: makes the user a requester for that team."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "team"], name="membership_unique_user_team")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.team}"


class RoleGrant(models.Model):
    """A granted portal role (custodian, admin, auditor)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="role_grants")
    role = models.CharField(max_length=20, choices=[(r.value, r.label) for r in GRANTED_ROLES])
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "role"], name="rolegrant_unique_user_role"),
            models.CheckConstraint(
                condition=models.Q(role__in=[r.value for r in GRANTED_ROLES]),
                name="rolegrant_role_is_granted_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user}: {self.role}"


class PrincipalType(models.TextChoices):
    """Kinds of Entra ID principal a role assignment names (Managed HSM's principalType)."""

    USER = "User", "User"
    GROUP = "Group", "Group"
    SERVICE_PRINCIPAL = "ServicePrincipal", "Service principal"


DISPLAY_NAME_MAX_LENGTH = 120
PRINCIPAL_DESCRIPTION_MAX_LENGTH = 500


class TeamPrincipal(models.Model):
    """An Entra ID principal (an application's service principal, a user, a group) that a team
    registered by its object id, so role assignments show a name instead of a bare GUID.
    Changed only through `accounts.services.save_principal`/`remove_principal` (audited)."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="principals")
    object_id = models.UUIDField()
    display_name = models.CharField(max_length=DISPLAY_NAME_MAX_LENGTH)
    description = models.CharField(max_length=PRINCIPAL_DESCRIPTION_MAX_LENGTH, blank=True)
    principal_type = models.CharField(max_length=20, choices=PrincipalType.choices)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["team", "display_name", "object_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "object_id"], name="teamprincipal_unique_team_object_id"
            )
        ]

    def __str__(self) -> str:
        return f"{self.display_name} ({self.object_id})"
