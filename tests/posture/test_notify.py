"""New high findings on the notification channels: one notice per finding opening, one
delivery per (finding, custodian or admin, channel) however often the task runs, the
custodians' Teams and Slack channel included, a failed webhook retried. The notify task's
work runs in this process against a real HTTP receiver and Django's locmem mail;
tests/posture/test_workflow.py runs it in a real worker after a sync."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.core import mail
from django.utils import timezone

from notifications.models import Delivery, Notice, Preference
from posture import notify
from posture.models import Finding
from tests.notifications.conftest import receiver  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db
TEAMS_PATH, SLACK_PATH = "/teams/custodians", "/slack/custodians"
NOW = timezone.now().replace(microsecond=0)


@pytest.fixture
def custodians_chat(settings, receiver):  # noqa: F811 (the fixture above)
    settings.CUSTODIAN_TEAMS_WEBHOOK_URL = receiver.url(TEAMS_PATH)
    settings.CUSTODIAN_SLACK_WEBHOOK_URL = receiver.url(SLACK_PATH)
    return receiver


def finding(rule: str, subject: str, *, times_reopened: int = 0) -> Finding:
    return Finding.objects.create(
        rule=rule,
        subject=subject,
        subject_kind="principal",
        severity="high",
        summary=f"{subject} is <risky>",
        first_seen=NOW - timedelta(days=3),
        last_seen=NOW,
        times_reopened=times_reopened,
    )


def test_one_delivery_per_finding_recipient_and_channel_however_often_the_task_runs(
    custodian, admin_user, requester, auditor, custodians_chat
):
    # given: a new finding and one back after being resolved; the requester and the auditor
    # may not act on findings
    new = finding("principal.administrator_with_key_roles", "app-1")
    back = finding("hsm.weak_release_policy", "hsm", times_reopened=2)
    # when: the task, then a duplicate of it
    first = notify.deliver([new.pk, back.pk], now=NOW)
    second = notify.deliver([new.pk, back.pk], now=NOW)
    # then
    assert (first.sent, first.failed, second.sent, second.failed) == (8, 0, 0, 0)
    assert list(Notice.objects.order_by("pk").values_list("key", "kind", "path", "created_at")) == [
        (
            f"posture:{back.pk}:2",
            "posture_finding",
            f"/posture/#finding-{back.pk}",
            NOW,
        ),
        (
            f"posture:{new.pk}:0",
            "posture_finding",
            f"/posture/#finding-{new.pk}",
            NOW - timedelta(days=3),
        ),
    ]
    rows = sorted(Delivery.objects.values_list("notice__key", "recipient", "channel", "state"))
    assert rows == sorted(
        (f"posture:{f.pk}:{f.times_reopened}", recipient, channel, "sent")
        for f in (new, back)
        for recipient, channel in [
            (f"user:{custodian.pk}", "mail"),
            (f"user:{custodian.pk}", "inapp"),
            (f"user:{admin_user.pk}", "mail"),
            (f"user:{admin_user.pk}", "inapp"),
            ("custodians", "teams"),
            ("custodians", "slack"),
        ]
    )
    subject = "[Keywarden] New high HSM posture finding: [principal.administrator_with_key_roles]"
    assert sorted(
        (m.subject, tuple(m.to)) for m in mail.outbox if m.subject.startswith(subject)
    ) == [
        (f"{subject} app-1 is <risky>", ("carol@example.com",)),
        (f"{subject} app-1 is <risky>", ("erin@example.com",)),
    ]
    [back_mail, *_] = [m for m in mail.outbox if "hsm.weak_release_policy" in m.subject]
    link = f"{settings.PORTAL_URL}/posture/#finding-{back.pk}"
    assert back_mail.body.startswith(
        "The HSM posture check found a new high finding (it is back after being resolved):\n\n"
        "[hsm.weak_release_policy] hsm is <risky>\nPrincipal: hsm\n\n"
        f"Review it: {link}\n"
    )
    html, mimetype = back_mail.alternatives[0]
    assert (mimetype, f'href="{link}"' in html, "hsm is &lt;risky&gt;" in html) == (
        "text/html",
        True,
        True,
    )
    assert len(custodians_chat.posts(TEAMS_PATH)) == len(custodians_chat.posts(SLACK_PATH)) == 2
    # Slack's text is escaped for its markup
    assert [post.body["text"] for post in custodians_chat.posts(SLACK_PATH)] == [
        f"[Keywarden] New high HSM posture finding: [hsm.weak_release_policy] hsm is "
        f"&lt;risky&gt;: {link}",
        f"{subject} app-1 is &lt;risky&gt;: {settings.PORTAL_URL}/posture/#finding-{new.pk}",
    ]


def test_a_failed_webhook_is_sent_on_the_retry_and_preferences_are_honoured(
    custodian, custodians_chat
):
    # given: the Teams channel fails once; the custodian wants no posture mail
    Preference.objects.create(
        user=custodian, kind="posture_finding", channel="mail", is_enabled=False
    )
    custodians_chat.answer(TEAMS_PATH, 500)
    new = finding("principal.administrator_with_key_roles", "app-1")
    # when
    first = notify.deliver([new.pk], now=NOW)
    retried = notify.deliver([new.pk], now=NOW)
    # then
    assert (first.sent, first.failed, retried.sent, retried.failed) == (1, 1, 1, 0)
    assert mail.outbox == []
    assert [post.status for post in custodians_chat.posts(TEAMS_PATH)] == [500, 200]
    assert sorted(Delivery.objects.values_list("recipient", "channel", "state", "attempts")) == [
        ("custodians", "slack", "sent", 1),
        ("custodians", "teams", "sent", 2),
        (f"user:{custodian.pk}", "inapp", "sent", 0),
    ]
