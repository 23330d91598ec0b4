"""The notify queue in a real Celery worker: with a fast worker the requester hears
"Approved" and "Succeeded", each once per channel, and a Teams webhook that answers 500 is
retried by the task until it takes the message, still once."""

from __future__ import annotations

import pytest

from notifications.models import Delivery
from tests.approvals.conftest import wait_for_state
from tests.notifications.conftest import SLACK_PATH, TEAMS_PATH, approve, submit
from tests.support.worker import mail_text

pytestmark = pytest.mark.django_db(transaction=True)
APPROVED = "[Keywarden] Approved: Create key pay-new (payments)"
SUCCEEDED = "[Keywarden] Succeeded: Create key pay-new (payments)"


def card_title(post) -> str:
    return post.body["attachments"][0]["content"]["body"][0]["text"]


def test_a_fast_worker_tells_each_outcome_once_on_every_channel(
    requester, custodian, second_custodian, payments_chat, receiver, live_worker, hsm
):
    # given: the first post to the team's Teams channel fails
    receiver.answer(TEAMS_PATH, 500)
    # when
    change = approve(submit(requester), custodian, second_custodian)
    wait_for_state(change, "succeeded")
    receiver.wait_for(TEAMS_PATH, 3)
    receiver.wait_for(SLACK_PATH, 2)
    assert live_worker.wait_idle()
    # then
    mails = sorted(
        message["Subject"]
        for message in live_worker.sent_mail()
        if message["To"] == requester.email and str(change.pk) in mail_text(message)
    )
    teams, slack = receiver.posts(TEAMS_PATH), receiver.posts(SLACK_PATH)
    assert mails == [APPROVED, SUCCEEDED]
    assert sorted((post.status, card_title(post)) for post in teams)[:2] == sorted(
        [(200, APPROVED), (200, SUCCEEDED)]
    )
    assert sorted(post.status for post in teams) == [200, 200, 500]
    assert sorted(post.body["text"].partition(":")[0] for post in slack) == [
        "[Keywarden] Approved",
        "[Keywarden] Succeeded",
    ]
    rows = Delivery.objects.filter(notice__path=f"/requests/{change.pk}/").exclude(
        notice__kind="awaiting_approval"
    )
    assert sorted(rows.values_list("notice__outcome", "channel", "state")) == [
        ("approved", "inapp", "sent"),
        ("approved", "mail", "sent"),
        ("approved", "slack", "sent"),
        ("approved", "teams", "sent"),
        ("succeeded", "inapp", "sent"),
        ("succeeded", "mail", "sent"),
        ("succeeded", "slack", "sent"),
        ("succeeded", "teams", "sent"),
    ]
    assert sorted(rows.filter(channel="teams").values_list("attempts", flat=True)) == [1, 2]
