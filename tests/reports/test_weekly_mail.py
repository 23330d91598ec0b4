"""The weekly rotation report mail: once per admin and week however often beat runs the job,
retried after a mail failure, and saying what the API says."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from accounts.roles import Role
from reports.models import WeeklyReportMail
from reports.services import send_weekly_reports
from reports.tasks import send_weekly_reports_task
from tests.factories import UserFactory
from tests.reports.conftest import NOW, tiles_of

MONDAY_7 = NOW - timedelta(hours=5)  # NOW is Monday 1 June 2026, 12:00 UTC


@pytest.fixture
def admins(admin_user):
    second = UserFactory(username="ivan", access={"roles": [Role.ADMIN]})
    UserFactory(username="noaddress", email="", access={"roles": [Role.ADMIN]})
    return [admin_user, second]


def test_two_beat_runs_send_one_mail_per_admin(seeded_inventory, admins, mailoutbox):
    # when: beat runs the job twice on Monday, once on Wednesday
    first = send_weekly_reports(now=MONDAY_7, send_from_hour=6)
    second = send_weekly_reports(now=MONDAY_7 + timedelta(minutes=1), send_from_hour=6)
    wednesday = send_weekly_reports(now=MONDAY_7 + timedelta(days=2), send_from_hour=6)
    # then
    assert (first.sent, second.sent, wednesday.sent) == (2, 0, 0)
    assert sorted(mail.to[0] for mail in mailoutbox) == ["erin@example.com", "ivan@example.com"]
    assert WeeklyReportMail.objects.filter(sent_at__isnull=False).count() == 2
    assert mailoutbox[0].subject == "[Keywarden] Rotation report, week of 2026-06-01"


def test_the_next_week_sends_again(seeded_inventory, admins, mailoutbox):
    # given
    send_weekly_reports(now=MONDAY_7, send_from_hour=6)
    # when
    summary = send_weekly_reports(now=MONDAY_7 + timedelta(days=7), send_from_hour=6)
    # then
    assert (summary.week, summary.sent) == ("2026-06-08", 2)
    assert len(mailoutbox) == 4


def test_nothing_goes_before_the_hour_on_monday(seeded_inventory, admins, mailoutbox):
    # when
    summary = send_weekly_reports(now=MONDAY_7 - timedelta(hours=2), send_from_hour=6)
    # then
    assert summary.sent == 0
    assert mailoutbox == []
    assert WeeklyReportMail.objects.exists() is False


def test_a_failed_mail_is_sent_by_the_next_run(seeded_inventory, admins, mailoutbox, settings):
    # given: the mail server is down for the first run
    settings.EMAIL_BACKEND = "tests.support.mail.FailingEmailBackend"
    failed = send_weekly_reports(now=MONDAY_7, send_from_hour=6)
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    # when
    retried = send_weekly_reports(now=MONDAY_7 + timedelta(hours=1), send_from_hour=6)
    # then
    assert (failed.failed, failed.sent, retried.sent) == (2, 0, 2)
    assert len(mailoutbox) == 2


def test_the_mail_says_what_the_api_says(
    seeded_inventory, request_history, admins, mailoutbox, api_client_for, settings
):
    # given
    api = api_client_for(admins[0]).get("/api/v1/reports/rotation/", {"now": MONDAY_7.isoformat()})
    # when
    send_weekly_reports(now=MONDAY_7, send_from_hour=6)
    # then
    body = mailoutbox[0].body
    expected = tiles_of(api.json())
    labels = {tile["label"]: tile["name"] for tile in api.json()["tiles"]}
    in_mail = {
        labels[label]: value
        for label, value in re.findall(r"^([A-Z][\w ]+): ([\d.]+)", body, re.MULTILINE)
        if label in labels
    }
    assert in_mail == {name: str(value) for name, value in expected.items()}
    assert "Overdue for rotation (9):" in body
    assert "- idn-e-4 (identity), due 2026-03-23" in body  # 800 days old, 2 years allowed
    assert "- legacy-1 (no team)" in body
    html, mimetype = mailoutbox[0].alternatives[0]
    assert (mimetype, "<table>" in html) == ("text/html", True)
    # links: the dashboard and each overdue key's page
    assert f"Dashboard: {settings.PORTAL_URL}/rotation/\n" in body
    assert f'<a href="{settings.PORTAL_URL}/rotation/">Open the dashboard</a>' in html
    assert f'<a href="{settings.PORTAL_URL}/keys/idn-e-4/">idn-e-4</a> (identity)' in html


def test_the_beat_job_sends_once_a_week_when_run_twice(admins, mailoutbox, settings):
    # given: sending from Monday 00:00, so this week's mail is due whatever today is
    settings.WEEKLY_REPORT_HOUR_UTC = 0
    # when: the task body twice (what two beat runs deliver to a worker)
    first, second = send_weekly_reports_task(), send_weekly_reports_task()
    # then
    assert (first["sent"], second["sent"]) == (2, 0)
    assert len(mailoutbox) == 2
    assert settings.CELERY_BEAT_SCHEDULE["weekly-rotation-report"]["task"] == (
        "reports.send_weekly_reports"
    )
