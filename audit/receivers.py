"""Receivers for Django's auth signals: the only signals with audit side effects (STYLE §9).

Each writes its event in its own transaction, so a failed sign-in is recorded even though the
request that caused it ends in an error response.
"""

from __future__ import annotations

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
    user_model = get_user_model()
    username = str(credentials.get(user_model.USERNAME_FIELD, ""))[:150]
    known = user_model._default_manager.filter(**{user_model.USERNAME_FIELD: username})
    user_pk = known.values_list("pk", flat=True).first()
    target = Target(
        type=user_model._meta.label_lower, id="" if user_pk is None else str(user_pk), name=username
    )
    with transaction.atomic():
        record_event(_context(request), Action.AUTH_LOGIN_FAILED, target=target)


def _context(request, *, actor=None) -> AuditContext:
    if request is None:  # authenticate() called without a request, e.g. from a shell
        return AuditContext(actor=actor)
    return AuditContext.from_request(request, actor=actor)
