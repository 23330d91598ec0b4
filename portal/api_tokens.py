"""API tokens (django-rest-knox): issued at most REST_KNOX["TOKEN_LIMIT_PER_USER"] live per
user, and all of a user's revoked when their password changes. Both audited."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from knox.models import AuthToken
from knox.settings import knox_settings

from accounts.models import User
from audit.actions import Action
from audit.context import AuditContext
from audit.services import record_event
from core.errors import NotAllowed


@transaction.atomic
def issue_api_token(*, user: User, ctx: AuditContext) -> tuple[AuthToken, str]:
    """A new token for `user` (its row and the secret, shown once); records
    `auth.token_issued`. The user's row is locked, so concurrent sign-ins cannot pass the
    limit; expired tokens are dropped first. Raises NotAllowed at the limit."""
    User.objects.select_for_update().filter(pk=user.pk).first()
    tokens = AuthToken.objects.filter(user=user)
    tokens.filter(expiry__lte=timezone.now()).delete()
    limit = knox_settings.TOKEN_LIMIT_PER_USER
    if limit is not None and tokens.count() >= limit:
        raise NotAllowed(
            f"You already hold {limit} live API tokens, the most allowed. Revoke one you no "
            "longer use (POST /api/v1/auth/logout/ with it) or wait until one expires."
        )
    instance, token = AuthToken.objects.create(user)
    record_event(ctx, Action.AUTH_TOKEN_ISSUED, target=user, after={"expiry": instance.expiry})
    return instance, token


@transaction.atomic
def revoke_api_tokens_on_password_change(*, user: User, ctx: AuditContext) -> int:
    """Delete every API token of `user`; records `auth.tokens_revoked` (with how many and why)
    when there was one. Returns the count."""
    revoked, _ = AuthToken.objects.filter(user=user).delete()
    if revoked:
        after = {"count": revoked, "reason": "password changed"}
        record_event(ctx, Action.AUTH_TOKENS_REVOKED, target=user, after=after)
    return revoked


class RevokeApiTokensOnPasswordChange:
    """An AUTH_PASSWORD_VALIDATORS entry that checks nothing: Django calls every validator's
    `password_changed` after a user saved with a new password (set_password, changepassword,
    the admin's form), the one hook every password change passes."""

    def validate(self, password: str, user: User | None = None) -> None:
        return None

    def password_changed(self, password: str, user: User | None = None) -> None:
        if user is not None and user.pk is not None:
            revoke_api_tokens_on_password_change(
                user=user, ctx=AuditContext.system("password-change")
            )

    def get_help_text(self) -> str:
        return "Changing your password revokes your API tokens."
