"""Custodians and admins hear of new custody warnings, and a holder of the warning about their
own certificate or their possession confirmation: ONE entry point, `new_warnings`, called
after the evaluation that raised them committed (`custody.services.evaluate_warnings` returns
each warning once, until it clears). One notice per warning raised, on the notification
channels (mail, inbox, the custodians' Teams/Slack channel), sent by a worker on the notify
queue, the same way as posture's findings (`notifications.services.deliver`)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.urls import reverse
from kombu.exceptions import OperationalError

from accounts.roles import CUSTODY_NOTIFY_ROLES
from accounts.selectors import user_ids_with_roles
from custody.selectors import active_holders, confirmed_since, register_of
from custody.warnings import CustodyWarning
from notifications import services as notices
from notifications.models import CUSTODIANS_RECIPIENT, Kind

logger = logging.getLogger(__name__)
CERTIFICATE_PREFIX = "certificate_expiry:"


def new_warnings(warnings: Sequence[CustodyWarning], *, raised_at: datetime) -> None:
    """Queue the notices of `warnings` (on the notify queue); nothing when empty. A broker
    outage loses only the notice (the warning is audited and on the register page)."""
    from custody import tasks

    if not warnings:
        return
    try:
        tasks.notify_warnings_task.apply_async(
            args=[[w.as_dict() for w in warnings], raised_at.isoformat()],
            queue=settings.CELERY_NOTIFY_QUEUE,
            retry=False,
        )
    except (OperationalError, OSError) as exc:
        logger.warning("custody.notify_failed", extra={"error": repr(exc)})


def affected_holders(warning: CustodyWarning, *, at: datetime) -> list[int]:
    """The portal users among the holders the warning is about: the certificate's holder, or
    for possession those who have not confirmed within CUSTODY_ATTESTATION_DAYS at `at`."""
    holders = list(active_holders(register_of()))
    if warning.code.startswith(CERTIFICATE_PREFIX):
        thumbprint = warning.code.removeprefix(CERTIFICATE_PREFIX)
        about = [h for h in holders if h.thumbprint == thumbprint]
    elif warning.code == "possession":
        since = at - timedelta(days=settings.CUSTODY_ATTESTATION_DAYS)
        confirmed = {h.pk for h in confirmed_since(holders, since=since)}
        about = [h for h in holders if h.pk not in confirmed]
    else:
        about = []
    return [h.user_id for h in about if h.user_id]


def notice_for(warning: CustodyWarning, *, users: Sequence[int], raised_at: datetime):
    """The notice of this raising of the warning: the key names the code and when it was
    raised, so a repeated task finds the notice and a warning back after clearing is new."""
    return notices.NoticeSpec(
        key=f"custody:{warning.code}:{raised_at.isoformat()}",
        kind=Kind.CUSTODY_WARNING,
        outcome=warning.severity,
        path=f"{reverse('custody:register')}#custody-warnings",
        context=warning.as_dict(),
        created_at=raised_at,
        users=tuple(users),
        chat=(CUSTODIANS_RECIPIENT,),
    )


def deliver(
    warnings: Sequence[CustodyWarning], *, raised_at: datetime, now: datetime
) -> notices.SendResult:
    """Publish each warning's notice (once) and send what is not sent yet."""
    staff = user_ids_with_roles(CUSTODY_NOTIFY_ROLES)
    specs = []
    for warning in warnings:
        users = list(dict.fromkeys([*staff, *affected_holders(warning, at=raised_at)]))
        specs.append(notice_for(warning, users=users, raised_at=raised_at))
    return notices.deliver(specs, now=now)
