"""Celery tasks of the reports app."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from reports.services import send_weekly_reports


@shared_task(name="reports.send_weekly_reports")
def send_weekly_reports_task() -> dict:
    """Mail this week's rotation report to every admin not sent it yet. Safe to run late, twice
    or concurrently: each admin gets one mail a week."""
    summary = send_weekly_reports(
        now=timezone.now(), send_from_hour=settings.WEEKLY_REPORT_HOUR_UTC
    )
    return {"status": "sent", **summary.__dict__}
