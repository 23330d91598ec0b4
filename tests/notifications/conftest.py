"""Fixtures of the notification tests: a webhook receiver for Teams and Slack, a team whose
chat channels point at it, and the events the request services schedule."""

from __future__ import annotations

from datetime import datetime

import pytest
from django.utils import timezone

from approvals import notifications
from approvals.notifications import RequestEvent
from notifications.models import TeamChannels
from notifications.services import SendResult
from tests.approvals.conftest import approve, pending_request, submit  # noqa: F401 (fixtures)
from tests.support.webhook import WebhookReceiver
from tests.web.conftest import (  # noqa: F401 (fixtures)
    browser_type_launch_args,
    browsing,
    client_for,
    screenshot,
)

TEAMS_PATH = "/teams/payments"
SLACK_PATH = "/slack/payments"


@pytest.fixture
def receiver():
    with WebhookReceiver() as running:
        yield running


@pytest.fixture
def payments_chat(payments_team, receiver):
    """The payments team's webhooks point at the receiver (written directly: the service
    takes https only, the receiver speaks http)."""
    return TeamChannels.objects.create(
        team=payments_team,
        teams_webhook_url=receiver.url(TEAMS_PATH),
        slack_webhook_url=receiver.url(SLACK_PATH),
    )


def events_of(callbacks) -> list[RequestEvent]:
    """The notification events among captured on-commit callbacks, in order."""
    return [
        callback.args[0]
        for callback in callbacks
        if getattr(callback, "func", None) is notifications.send
    ]


def deliver(event: RequestEvent, *, now: datetime | None = None) -> SendResult:
    """What the notify task does with the event, in this process."""
    return notifications.deliver([event], now=now or timezone.now())
