"""Custodians and admins hear of new high findings: ONE entry point, `new_high_findings`,
called after the evaluation that opened (or reopened) them committed. One notice per finding
opening on the notification channels (mail, inbox, the custodians' Teams/Slack channel), sent
by a worker on the notify queue (notifications.services), so a broker outage loses only the
notice and a failing mail server or webhook is retried."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from django.urls import reverse
from kombu.exceptions import OperationalError

from accounts.roles import RISK_ACCEPT_ROLES
from accounts.selectors import user_ids_with_roles
from notifications import services as notices
from notifications.models import CUSTODIANS_RECIPIENT, Kind
from posture.models import Finding, SubjectKind

logger = logging.getLogger(__name__)


def new_high_findings(findings: Sequence[Finding]) -> None:
    """Queue the notices of `findings` (saved rows); nothing when empty."""
    from posture import tasks

    if not findings:
        return
    try:
        tasks.notify_high_findings_task.apply_async(
            args=[[finding.pk for finding in findings]], retry=False
        )
    except (OperationalError, OSError) as exc:
        logger.warning("posture.notify_failed", extra={"error": repr(exc)})


def recipients() -> list[int]:
    """Who hears of a finding: those who may act on it (accept the risk, start a check)."""
    return user_ids_with_roles(RISK_ACCEPT_ROLES)


def notice_for(finding: Finding, *, users: Sequence[int]) -> notices.NoticeSpec:
    """The notice of the finding's current opening: the key names the finding and how often
    it came back, so a repeated task finds the notice and a reopening makes a new one."""
    opened_at: datetime = finding.first_seen if not finding.times_reopened else finding.last_seen
    return notices.NoticeSpec(
        key=f"posture:{finding.pk}:{finding.times_reopened}",
        kind=Kind.POSTURE_FINDING,
        outcome=finding.severity,
        path=f"{reverse('posture:findings')}#finding-{finding.pk}",
        context={
            "rule": finding.rule,
            "summary": finding.summary,
            "finding_subject": finding.subject,
            "subject_kind": SubjectKind(finding.subject_kind).label,
            "severity": finding.severity,
            "reopened": finding.times_reopened > 0,
        },
        created_at=opened_at,
        users=tuple(users),
        chat=(CUSTODIANS_RECIPIENT,),
    )


def deliver(finding_ids: Sequence[int], *, now: datetime) -> notices.SendResult:
    """Publish each finding's notice (once) and send what is not sent yet."""
    findings = Finding.objects.filter(pk__in=finding_ids).order_by("rule", "subject")
    users = recipients()
    return notices.deliver([notice_for(finding, users=users) for finding in findings], now=now)
