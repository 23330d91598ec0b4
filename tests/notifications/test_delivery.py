"""Delivering one event: text from the event, each (recipient, channel) once however often
the task runs, Teams and Slack JSON exactly as posted, a 500 retried, preferences honoured.
The notify task's work runs in this process against a real HTTP receiver and Django's
locmem mail; tests/notifications/test_worker.py runs it in a real worker."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core import mail

from approvals.models import ChangeRequest, State
from audit.context import AuditContext
from audit.models import AuditEvent
from core.errors import Invalid
from notifications.models import ALWAYS_ON_REASON, Channel, Delivery, DeliveryState, Preference
from notifications.selectors import preferences_of
from notifications.services import save_preferences
from tests.notifications.conftest import SLACK_PATH, TEAMS_PATH, approve, deliver, events_of, submit

pytestmark = pytest.mark.django_db


def test_custodians_get_one_mail_and_one_inbox_item_however_often_the_task_runs(
    requester, custodian, second_custodian, admin_user, django_capture_on_commit_callbacks
):
    # given
    with django_capture_on_commit_callbacks() as callbacks:
        change = submit(requester)
    [event] = events_of(callbacks)
    # when: the task, then a duplicate of it
    first, second = deliver(event), deliver(event)
    # then
    assert (event.kind, event.state) == ("awaiting_approval", "pending")
    assert (first.sent, first.failed, second.sent, second.failed) == (2, 0, 0, 0)
    assert sorted((m.subject, tuple(m.to)) for m in mail.outbox) == [
        ("[Keywarden] Approval needed: Create key pay-new (payments)", ("carol@example.com",)),
        ("[Keywarden] Approval needed: Create key pay-new (payments)", ("dave@example.com",)),
    ]
    assert sorted(Delivery.objects.values_list("recipient", "channel", "state")) == [
        (f"user:{custodian.pk}", "inapp", "sent"),
        (f"user:{custodian.pk}", "mail", "sent"),
        (f"user:{second_custodian.pk}", "inapp", "sent"),
        (f"user:{second_custodian.pk}", "mail", "sent"),
    ]
    text, (html, mimetype) = mail.outbox[0].body, mail.outbox[0].alternatives[0]
    assert f"{settings.PORTAL_URL}/requests/{change.pk}/" in text
    assert "Justification: needed" in text
    assert mimetype == "text/html"
    assert f'href="{settings.PORTAL_URL}/requests/{change.pk}/"' in html


def test_the_text_is_the_event_s_even_when_the_request_has_moved_on(
    pending_request, custodian, second_custodian, django_capture_on_commit_callbacks
):
    # given: approved, and already succeeded by the time the task runs (a fast worker)
    with django_capture_on_commit_callbacks() as callbacks:
        approve(pending_request, custodian, second_custodian)
    [event] = events_of(callbacks)
    ChangeRequest.objects.filter(pk=pending_request.pk).update(state=State.SUCCEEDED)
    # when
    deliver(event)
    # then
    assert [m.subject for m in mail.outbox] == [
        "[Keywarden] Approved: Create key pay-new (payments)"
    ]
    assert "was approved and is on its way to the HSM." in mail.outbox[0].body


def test_team_channels_get_an_adaptive_card_and_a_slack_message(
    pending_request, custodian, second_custodian, payments_chat, receiver,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    # given
    with django_capture_on_commit_callbacks() as callbacks:
        approve(pending_request, custodian, second_custodian)
    [event] = events_of(callbacks)
    link = f"{settings.PORTAL_URL}/requests/{pending_request.pk}/"
    subject = "[Keywarden] Approved: Create key pay-new (payments)"
    summary = (
        "alice's request Create key pay-new (payments) was approved and is on its way to the HSM."
    )
    # when
    result = deliver(event)
    # then
    assert (result.sent, result.failed) == (3, 0)  # mail, Teams, Slack (the inbox row is made sent)
    [teams] = receiver.posts(TEAMS_PATH)
    [slack] = receiver.posts(SLACK_PATH)
    assert teams.body == {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": "1.4",
                    "body": [
                        {"type": "TextBlock", "text": subject, "weight": "Bolder", "wrap": True},
                        {"type": "TextBlock", "text": summary, "wrap": True},
                    ],
                    "actions": [
                        {"type": "Action.OpenUrl", "title": "Open in Keywarden", "url": link}
                    ],
                },
            }
        ],
    }
    assert slack.body == {
        "text": f"{subject}: {link}",
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{subject}*\n{summary}"}},
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Open in Keywarden"},
                        "url": link,
                    }
                ],
            },
        ],
    }


def test_the_custodians_channel_comes_from_the_environment(
    settings, requester, custodian, receiver, django_capture_on_commit_callbacks
):
    # given
    settings.CUSTODIAN_SLACK_WEBHOOK_URL = receiver.url("/slack/custodians")
    with django_capture_on_commit_callbacks() as callbacks:
        submit(requester, justification="Checkout <needs> a key & soon")
    [event] = events_of(callbacks)
    # when
    deliver(event)
    # then: Slack's three mrkdwn escapes applied; no Teams URL set, so no Teams delivery
    [slack] = receiver.posts("/slack/custodians")
    assert slack.body["blocks"][0]["text"]["text"] == (
        "*[Keywarden] Approval needed: Create key pay-new (payments)*\n"
        "alice asks: Create key pay-new (payments). "
        "Justification: Checkout &lt;needs&gt; a key &amp; soon"
    )
    assert Delivery.objects.filter(channel=Channel.TEAMS).exists() is False


def test_a_webhook_answering_500_is_retried_and_then_delivered_once(
    pending_request, custodian, second_custodian, payments_chat, receiver,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    # given
    receiver.answer(TEAMS_PATH, 500)
    with django_capture_on_commit_callbacks() as callbacks:
        approve(pending_request, custodian, second_custodian)
    [event] = events_of(callbacks)
    # when: the first try, then the task's retry
    first = deliver(event)
    teams_row = Delivery.objects.get(channel=Channel.TEAMS)
    after_first = (teams_row.state, teams_row.attempts, teams_row.error)
    second = deliver(event)
    # then
    assert (first.sent, first.failed, second.sent, second.failed) == (2, 1, 1, 0)
    assert after_first == (DeliveryState.FAILED, 1, "webhook answered 500")
    teams = receiver.posts(TEAMS_PATH)
    assert [post.status for post in teams] == [500, 200]
    assert teams[0].body == teams[1].body
    assert len(receiver.posts(SLACK_PATH)) == 1
    assert len(mail.outbox) == 1
    assert Delivery.objects.filter(state=DeliveryState.SENT).count() == 4  # + the inbox row


def test_preferences_decide_mail_and_inbox_per_kind(
    requester, custodian, second_custodian, django_capture_on_commit_callbacks
):
    # given: carol takes no mail about waiting approvals
    enabled = {**preferences_of(custodian), "awaiting_approval": {"inapp"}}
    save_preferences(user=custodian, enabled=enabled, ctx=AuditContext(actor=custodian))
    with django_capture_on_commit_callbacks() as callbacks:
        submit(requester)
    [event] = events_of(callbacks)
    # when
    deliver(event)
    # then
    assert [m.to for m in mail.outbox] == [["dave@example.com"]]
    assert sorted(Delivery.objects.values_list("user__username", "channel")) == [
        ("carol", "inapp"),
        ("dave", "inapp"),
        ("dave", "mail"),
    ]
    event_row = AuditEvent.objects.get(action="notifications.preferences_updated")
    assert (event_row.before["awaiting_approval"], event_row.after["awaiting_approval"]) == (
        ["inapp", "mail"],
        ["inapp"],
    )
    assert event_row.after["decided"] == ["inapp", "mail"]


def test_the_inbox_for_waiting_approvals_cannot_be_turned_off(custodian):
    events_before = AuditEvent.objects.count()
    with pytest.raises(Invalid) as refused:
        save_preferences(
            user=custodian,
            enabled={"awaiting_approval": {"mail"}},
            ctx=AuditContext(actor=custodian),
        )
    assert refused.value.errors == {"awaiting_approval:inapp": [ALWAYS_ON_REASON]}
    assert Preference.objects.exists() is False
    assert AuditEvent.objects.count() == events_before
