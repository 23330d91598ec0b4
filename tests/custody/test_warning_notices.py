"""New custody warnings on the notification channels: one notice per warning raised, one
delivery per (warning, custodian, admin or the holder concerned, channel) however often the
task runs, and nothing again on the next evaluation while the warning stands. The notify
task's work runs in this process against a real HTTP receiver and Django's locmem mail."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from audit.context import AuditContext
from custody import notify, services
from custody.selectors import active_holders, register_of
from notifications.models import Delivery, Notice
from tests.custody.conftest import fill_register
from tests.factories import UserFactory
from tests.notifications.conftest import receiver  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db
NOW = timezone.now().replace(microsecond=0)


@pytest.fixture
def custodians_chat(settings, receiver):  # noqa: F811 (the fixture above)
    settings.CUSTODIAN_TEAMS_WEBHOOK_URL = receiver.url("/teams/custodians")
    settings.CUSTODIAN_SLACK_WEBHOOK_URL = receiver.url("/slack/custodians")
    return receiver


def test_each_new_warning_is_told_once_per_recipient_and_channel(
    key_holders, custodian, admin_user, auditor, requester, custodians_chat, settings
):
    # given: three holders at three sites, none confirmed, every certificate near expiry;
    # the first holder is the portal user ines
    ines = UserFactory(username="ines")
    fill_register(key_holders, users=(ines,))
    settings.CUSTODY_CERT_WARNING_DAYS = 365 * 200
    ctx = AuditContext.system("test")
    new = services.evaluate_warnings(now=NOW, ctx=ctx)
    # when: the task, a duplicate of it, and the next evaluation
    first = notify.deliver(new, raised_at=NOW, now=NOW)
    second = notify.deliver(new, raised_at=NOW, now=NOW)
    later = services.evaluate_warnings(now=NOW + timedelta(hours=1), ctx=ctx)
    # then
    thumbprints = [holder.thumbprint for holder in active_holders(register_of())]
    codes = sorted([*(f"certificate_expiry:{t}" for t in thumbprints), "possession"])
    assert sorted(w.code for w in new) == codes
    assert later == []
    assert (first.sent, first.failed, second.sent, second.failed) == (
        18,
        0,
        0,
        0,
    )  # inbox items need no sending
    assert sorted(Notice.objects.values_list("key", "kind", "path")) == [
        (f"custody:{code}:{NOW.isoformat()}", "custody_warning", "/custody/#custody-warnings")
        for code in codes
    ]
    staff = [
        (f"user:{user.pk}", channel)
        for user in (custodian, admin_user)
        for channel in ("mail", "inapp")
    ] + [("custodians", "teams"), ("custodians", "slack")]
    own = [(f"user:{ines.pk}", "mail"), (f"user:{ines.pk}", "inapp")]
    about_ines = {f"certificate_expiry:{thumbprints[0]}", "possession"}
    expected = sorted(
        (f"custody:{code}:{NOW.isoformat()}", recipient, channel, "sent")
        for code in codes
        for recipient, channel in staff + (own if code in about_ines else [])
    )
    rows = Delivery.objects.values_list("notice__key", "recipient", "channel", "state")
    assert sorted(rows) == expected
    to_ines = sorted(m.subject for m in mail.outbox if m.to == [ines.email])
    assert len(to_ines) == 2
    assert all(s.startswith("[Keywarden] Custody warning (") for s in to_ines)
    assert not [m for m in mail.outbox if set(m.to) & {auditor.email, requester.email}]
    assert len(custodians_chat.received) == 8
