"""Receivers for Django's auth signals: the only signals with audit side effects (STYLE §9).

Each writes its event in its own transaction, so a failed sign-in is recorded even though the
request that caused it ends in an error response.
"""

from __future__ import annotations

from axes.signals import user_locked_out
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db import transaction
from django.dispatch import receiver

from audit.actions import Action
from audit.context import AuditContext
from audit.services import record_event
from audit.targets import Target


@receiver(user_logged_in, dispatch_uid="audit.user_logged_in")
def record_login(sender, request, user, **kwargs) -> None:
    """`auth.login` by the user who signed in (session sign-in, Entra ID or local)."""
    with transaction.atomic():
        record_event(_context(request, actor=user), Action.AUTH_LOGIN, target=user)


@receiver(user_logged_out, dispatch_uid="audit.user_logged_out")
def record_logout(sender, request, user, **kwargs) -> None:
    """`auth.logout` (session sign-out or API token revocation); nothing without a user."""
    if user is None:  # logging out a session that was not signed in
        return
    with transaction.atomic():
        record_event(_context(request, actor=user), Action.AUTH_LOGOUT, target=user)


@receiver(user_login_failed, dispatch_uid="audit.user_login_failed")
def record_login_failure(sender, credentials, request=None, **kwargs) -> None:
    """`auth.login_failed` by an anonymous actor about the attempted username; the password
    is never recorded (Django already masks it in `credentials`)."""
    target = _user_target(credentials.get(get_user_model().USERNAME_FIELD, ""))
    with transaction.atomic():
        record_event(_context(request), Action.AUTH_LOGIN_FAILED, target=target)


@receiver(user_locked_out, dispatch_uid="audit.user_locked_out")
def record_lockout(sender, request, username=None, ip_address=None, **kwargs) -> None:
    """`auth.locked_out` (django-axes) for the failure that reaches the limit and for each
    attempt refused while locked out: the username tried, and the limit and cool-off."""
    after = {
        "failure_limit": settings.AXES_FAILURE_LIMIT,
        "lockout_minutes": int(settings.AXES_COOLOFF_TIME.total_seconds() // 60),
    }
    with transaction.atomic():
        record_event(
            _context(request), Action.AUTH_LOCKED_OUT, target=_user_target(username), after=after
        )


def _user_target(username) -> Target:
    """The attempted username, with the user's id when such a user exists."""
    user_model = get_user_model()
    username = str(username or "")[:150]
    known = user_model._default_manager.filter(**{user_model.USERNAME_FIELD: username})
    user_pk = known.values_list("pk", flat=True).first()
    return Target(
        type=user_model._meta.label_lower, id="" if user_pk is None else str(user_pk), name=username
    )


def _context(request, *, actor=None) -> AuditContext:
    if request is None:  # authenticate() called without a request, e.g. from a shell
        return AuditContext(actor=actor)
    return AuditContext.from_request(request, actor=actor)
