"""Custodians hear of new high findings: ONE entry point, `new_high_findings`, called after
the evaluation that opened (or reopened) them committed. Mail for now, in the style of
approvals.notifications (a worker sends it on the notify queue; a broker outage loses only the
mail); the notification channels are wired here later."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from django.conf import settings
from django.core.mail import send_mass_mail
from kombu.exceptions import OperationalError

from accounts.roles import DECIDING_ROLES
from accounts.selectors import users_with_role
from posture.models import Finding

logger = logging.getLogger(__name__)


def new_high_findings(findings: Sequence[Finding]) -> None:
    """Queue one mail to the custodians about `findings` (saved rows); nothing when empty."""
    from posture import tasks

    if not findings:
        return
    try:
        tasks.notify_high_findings_task.apply_async(
            args=[[finding.pk for finding in findings]], retry=False
        )
    except (OperationalError, OSError) as exc:
        logger.warning("posture.notify_failed", extra={"error": repr(exc)})


def messages_for(findings: Sequence[Finding]) -> list[tuple[str, str, str, list[str]]]:
    """(subject, body, from, recipients) for send_mass_mail: one mail to every custodian."""
    custodians = (user for role in sorted(DECIDING_ROLES) for user in users_with_role(role))
    recipients = list(dict.fromkeys(user.email for user in custodians if user.email))
    if not recipients or not findings:
        return []
    lines = "\n".join(f"- [{f.rule}] {f.summary}" for f in findings)
    subject = f"[Keywarden] {len(findings)} new high HSM posture finding(s)"
    body = (
        f"The HSM posture check found:\n\n{lines}\n\nReview them: {settings.PORTAL_URL}/posture/\n"
    )
    return [(subject, body, settings.DEFAULT_FROM_EMAIL, recipients)]


def deliver(finding_ids: Sequence[int]) -> int:
    findings = list(Finding.objects.filter(pk__in=finding_ids).order_by("rule", "subject"))
    return send_mass_mail(messages_for(findings), fail_silently=False)
