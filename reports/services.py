"""The weekly rotation report mail to admins (ROTATION.md §6): the dashboard's tiles, tables and
overdue list, sent once per admin and week (WeeklyReportMail's unique constraint), however
late, often or concurrently beat runs the job."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from smtplib import SMTPException

from django.conf import settings
from django.db.models import Q
from django.urls import reverse

from accounts.roles import Role
from accounts.selectors import users_with_role
from notifications import services as notices
from reports.models import WeeklyReportMail
from reports.selectors import overdue_keys, report_scope, rotation_report

logger = logging.getLogger(__name__)

# A run that claimed mails and died: after this long another run sends them.
CLAIM_LEASE = timedelta(minutes=15)
OVERDUE_ROWS = 50
# subject.txt, mail.txt and its HTML alternative mail.html
MAIL_TEMPLATES = "reports/weekly_mail"


@dataclass(frozen=True)
class WeeklySummary:
    week: str
    due: int
    sent: int
    failed: int


def week_of(now: datetime) -> datetime:
    """Monday 00:00 UTC of `now`'s ISO week."""
    start = now - timedelta(days=now.weekday())
    return start.replace(hour=0, minute=0, second=0, microsecond=0)


def send_weekly_reports(*, now: datetime, send_from_hour: int = 0) -> WeeklySummary:
    """Record this week's mail for every active admin with an address (once: the unique row),
    then claim the unsent ones and mail each; a failed mail is released for the next run. Not
    before `send_from_hour` UTC on Monday. No lock is held while mailing."""
    start = week_of(now)
    if now < start + timedelta(hours=send_from_hour):
        return WeeklySummary(f"{start:%Y-%m-%d}", 0, 0, 0)
    admins = users_with_role(Role.ADMIN).exclude(email="")
    WeeklyReportMail.objects.bulk_create(
        [WeeklyReportMail(admin=admin, week=start.date(), created_at=now) for admin in admins],
        ignore_conflicts=True,
    )
    token = uuid.uuid4()
    due = (
        WeeklyReportMail.objects.filter(week=start.date(), sent_at__isnull=True)
        .filter(Q(claim__isnull=True) | Q(claimed_at__lt=now - CLAIM_LEASE))
        .update(claim=token, claimed_at=now)
    )
    rows = list(WeeklyReportMail.objects.filter(claim=token).select_related("admin"))
    sent = failed = 0
    content = _content(rows[0].admin, now=now) if rows else {}
    for row in rows:
        if _mail(row, content, start):
            WeeklyReportMail.objects.filter(pk=row.pk, claim=token).update(
                sent_at=now, recipient=row.admin.email
            )
            sent += 1
        else:
            WeeklyReportMail.objects.filter(pk=row.pk, claim=token).update(
                claim=None, claimed_at=None
            )
            failed += 1
    summary = WeeklySummary(f"{start:%Y-%m-%d}", due, sent, failed)
    logger.info("reports.weekly_mail_run", extra=summary.__dict__)
    return summary


def _content(admin, *, now: datetime) -> dict:
    """The report every admin gets (admins see every team, so one report serves them all)."""
    scope = report_scope(admin, team=None, key_class=None, now=now)
    overdue = overdue_keys(scope)
    return {
        "report": rotation_report(scope),
        "overdue": [
            {"key": key, "link": settings.PORTAL_URL + reverse("keys:detail", args=[key.name])}
            for key in overdue[:OVERDUE_ROWS]
        ],
        "overdue_count": overdue.count(),
        "dashboard_url": settings.PORTAL_URL + reverse("reports:rotation"),
        "now": now,
    }


def _mail(row: WeeklyReportMail, content: dict, start: datetime) -> bool:
    context = {**content, "admin": row.admin, "week": start}
    message = notices.mail_from_templates(MAIL_TEMPLATES, context, [row.admin.email])
    try:
        message.send()
    except (SMTPException, OSError) as exc:
        logger.warning("reports.weekly_mail_failed", extra={"mail": row.pk, "error": repr(exc)})
        return False
    return True
