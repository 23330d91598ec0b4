"""Who signed in, and what their groups give them: teams and portal roles, applied at every
sign-in."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction

from accounts.models import Team, User
from accounts.services import set_user_access
from audit.context import AuditContext
from portal.entra.errors import (
    AccountDisabled,
    GroupOverage,
    SignInRejected,
)


@dataclass(frozen=True)
class EntraIdentity:
    """The verified claims Keywarden uses: who the account is and which groups it is in."""

    object_id: uuid.UUID
    preferred_username: str  # "" when absent or unusable as a username
    display_name: str
    email: str
    group_ids: frozenset[str]

    @property
    def username(self) -> str:
        return self.preferred_username or str(self.object_id)

    @classmethod
    def from_claims(cls, claims: dict[str, Any]) -> EntraIdentity:
        """Raises SignInRejected for malformed claims, GroupOverage when groups were left out."""
        try:
            object_id = uuid.UUID(str(claims.get("oid")))
        except ValueError:
            raise SignInRejected("The ID token has no valid object id (oid) claim.") from None
        preferred_username = _text_claim(claims, "preferred_username")
        try:
            UnicodeUsernameValidator()(preferred_username)
        except ValidationError:
            preferred_username = ""  # absent, or with characters usernames refuse
        preferred_username = preferred_username if len(preferred_username) <= 150 else ""
        username = preferred_username or str(object_id)
        names = claims.get("_claim_names")
        if (isinstance(names, dict) and "groups" in names) or claims.get("hasgroups") is True:
            raise GroupOverage(
                "Your account is in more groups than Microsoft Entra ID puts into a sign-in "
                "token, so Keywarden cannot tell which of them grant access.",
                username=username,
            )
        groups = claims.get("groups", [])
        if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
            raise SignInRejected("The ID token's groups claim is malformed.", username=username)
        email = _text_claim(claims, "email")
        try:
            validate_email(email)
        except ValidationError:
            email = ""
        return cls(
            object_id=object_id,
            preferred_username=preferred_username,
            display_name=_text_claim(claims, "name")[:150],
            email=email[:254],
            group_ids=frozenset(g.strip().lower() for g in groups),
        )


def _text_claim(claims: dict[str, Any], name: str) -> str:
    value = claims.get(name)
    return value.strip() if isinstance(value, str) else ""


def access_for_groups(group_ids: frozenset[str]) -> tuple[list[Team], set[str]]:
    """Teams whose Entra group is in `group_ids`, and roles ENTRA_ROLE_GROUPS maps them to."""
    team_groups = []
    for group_id in group_ids:
        try:
            team_groups.append(uuid.UUID(group_id))
        except ValueError:
            continue  # not an object id (e.g. sAMAccountName group claims): maps to no team
    teams = list(Team.objects.filter(entra_group_id__in=team_groups))
    roles = {
        role
        for role, group_id in settings.ENTRA_ROLE_GROUPS.items()
        if group_id.strip().lower() in group_ids
    }
    return teams, roles


@transaction.atomic
def provision_entra_user(*, identity: EntraIdentity) -> User | None:
    """Find or create the user by object id and make their teams and roles exactly what their
    groups map to. None when that is nothing: no user is created, an existing one loses all
    access. Raises AccountDisabled, SignInRejected (username owned by another account)."""
    teams, roles = access_for_groups(identity.group_ids)
    user = User.objects.select_for_update().filter(entra_object_id=identity.object_id).first()
    if user is not None and user.is_service_account:  # an application never signs in here
        raise SignInRejected(
            "This Entra ID object is a Keywarden service account: it calls the API with "
            "app-only tokens and cannot sign in to the portal.",
            username=identity.username,
        )
    if user is not None and not user.is_active:
        raise AccountDisabled(
            "Your Keywarden account is disabled. Ask a Keywarden administrator to enable it.",
            username=identity.username,
        )
    if user is None and not (teams or roles):
        return None
    username_taken = (
        User.objects.filter(username=identity.username).exclude(pk=getattr(user, "pk", None))
    ).exists()
    if user is None:
        if username_taken:  # never link to an account that Entra ID does not own
            raise SignInRejected(
                f"The username {identity.username} belongs to another Keywarden account. "
                "Ask a Keywarden administrator to resolve the clash.",
                username=identity.username,
            )
        user = User(entra_object_id=identity.object_id, username=identity.username)
        user.set_unusable_password()
    elif identity.preferred_username and not username_taken:
        user.username = identity.preferred_username  # a renamed account follows its UPN
    # Claims a token leaves out keep the values an earlier sign-in stored.
    user.first_name, user.last_name = identity.display_name or user.get_full_name(), ""
    user.email = identity.email or user.email
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:  # the same account signing in twice at once
        raise SignInRejected("Please sign in again.", username=identity.username) from None
    set_user_access(user=user, teams=teams, roles=roles, ctx=AuditContext.system("entra-sign-in"))
    return user if (teams or roles) else None
