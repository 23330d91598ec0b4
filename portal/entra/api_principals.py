"""Who an API access token stands for: an app-only token its service account (by the service
principal's object id), a delegated token the user who signed in (by object id)."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings

from accounts.models import User
from accounts.services import set_user_access
from audit.context import AuditContext
from portal.entra.errors import AccessTokenRejected


def api_audiences() -> list[str]:
    """ENTRA_API_AUDIENCES, or the app registration's client id and its api:// URI."""
    client_id = settings.ENTRA_CLIENT_ID
    return list(settings.ENTRA_API_AUDIENCES) or [client_id, f"api://{client_id}"]


def is_app_only(claims: dict[str, Any]) -> bool:
    """Client-credentials tokens say idtyp=app (optional claim) and never carry scp."""
    return claims.get("idtyp") == "app" or "scp" not in claims


def principal_for_claims(claims: dict[str, Any]) -> User:
    """The active Keywarden account a verified access token stands for; a service account's
    granted roles follow the token's app roles when ENTRA_APP_ROLES is set (audited).
    Raises AccessTokenRejected for an unknown, disabled or mismatched principal."""
    try:
        object_id = uuid.UUID(str(claims["oid"]))
    except ValueError:
        raise AccessTokenRejected("The bearer token has no valid object id (oid).") from None
    if is_app_only(claims):
        return _service_account(object_id, claims)
    return _delegated_user(object_id, claims)


def _service_account(object_id: uuid.UUID, claims: dict[str, Any]) -> User:
    account = User.objects.filter(entra_object_id=object_id, is_service_account=True).first()
    if account is None:
        raise AccessTokenRejected(
            f"No Keywarden service account is registered for the application {object_id} "
            "(an administrator registers it with manage.py save_service_account)."
        )
    if not account.is_active:
        raise AccessTokenRejected(f"The service account {account.username} is disabled.")
    if settings.ENTRA_APP_ROLES:
        _apply_app_roles(account, claims)
    return account


def _apply_app_roles(account: User, claims: dict[str, Any]) -> None:
    app_roles = claims.get("roles", [])
    if not isinstance(app_roles, list) or not all(isinstance(r, str) for r in app_roles):
        raise AccessTokenRejected("The bearer token's roles claim is malformed.")
    roles = {role for role, value in settings.ENTRA_APP_ROLES.items() if value in app_roles}
    if roles == {grant.role for grant in account.role_grants.all()}:
        return
    set_user_access(
        user=account,
        teams=list(account.teams.all()),
        roles=roles,
        ctx=AuditContext.system("entra-api-token"),
    )


def _delegated_user(object_id: uuid.UUID, claims: dict[str, Any]) -> User:
    scopes = str(claims.get("scp", "")).split()
    if settings.ENTRA_API_SCOPE not in scopes:
        raise AccessTokenRejected(
            f"The bearer token does not hold Keywarden's {settings.ENTRA_API_SCOPE} scope."
        )
    user = User.objects.filter(entra_object_id=object_id, is_service_account=False).first()
    if user is None:
        raise AccessTokenRejected(
            "No Keywarden user has this Entra ID account: sign in to the portal once first."
        )
    if not user.is_active:
        raise AccessTokenRejected(f"The Keywarden account {user.username} is disabled.")
    return user
