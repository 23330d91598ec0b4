"""Warnings about a team's keys (keys.services.warnings) reach the inboxes of the people they
are mailed to, once per warning however often the job runs, and nobody else's."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from audit.context import AuditContext
from keys.services.warnings import warn_owners
from notifications.selectors import inbox_of
from tests.factories import ManagedKeyFactory

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 6, 1, 12, tzinfo=timezone.utc)
CTX = AuditContext.scheduler(job="keys.warn_owners:test")


def listed(user) -> list[tuple[str, str, str]]:
    return [(i.notice.subject, i.notice.path, i.notice.outcome) for i in inbox_of(user)]


def test_a_key_warning_reaches_its_team_s_inboxes_once(
    payments_team, requester, other_requester, custodian
):
    # given
    ManagedKeyFactory(
        name="pay-late",
        team=payments_team,
        compliance_state="overdue",
        current_version="pay-late-v1",
        compliance_due_on=NOW - timedelta(days=2),
    )
    # when: the job, then the job again
    warn_owners(now=NOW, ctx=CTX)
    warn_owners(now=NOW + timedelta(hours=1), ctx=CTX)
    # then: the team and (for an overdue key) the custodians; not the identity team
    expected = [
        ("[Keywarden] pay-late rotation overdue since 2026-05-30", "/keys/pay-late/", "overdue")
    ]
    assert (listed(requester), listed(custodian), listed(other_requester)) == (
        expected,
        expected,
        [],
    )
