"""Events delivered together: what each would get alone, in a number of queries that does not
grow with the batch (besides one per message sent), and the notify task still reading a
message queued before events travelled in lists. Runs the task's work in this process, with
Django's locmem mail; tests/notifications/test_worker.py runs it in a real worker."""

from __future__ import annotations

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from approvals import notifications
from approvals.tasks import notify_task
from notifications.models import Delivery, Notice
from tests.notifications.conftest import approve, events_of, submit

pytestmark = pytest.mark.django_db

TRANSACTION_CONTROL = ("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")
CREATE = {"kty": "EC-HSM", "curve": "P-256", "key_ops": ["sign"]}


def events_for(requester, custodians, names: list[str], capture) -> list:
    """For each name: a request's "approval needed" event and, approved, its "decided" one."""
    with capture() as callbacks:
        for name in names:
            approve(submit(requester, params={"name": name, **CREATE}), *custodians)
    return events_of(callbacks)


def delivered_counting(events) -> tuple[int, int]:
    """(statements, messages sent) of delivering `events` together."""
    with CaptureQueriesContext(connection) as queries:
        result = notifications.deliver(events, now=timezone.now())
    assert result.failed == 0
    statements = [
        q for q in queries.captured_queries if not q["sql"].startswith(TRANSACTION_CONTROL)
    ]
    return len(statements), result.sent


def test_a_batch_costs_the_same_queries_however_many_events_besides_one_per_message(
    requester, custodian, second_custodian, django_capture_on_commit_callbacks
):
    # given: the events of 1 request and of 4 more (each: approval needed, then decided)
    custodians = (custodian, second_custodian)
    capture = django_capture_on_commit_callbacks
    small = events_for(requester, custodians, ["pay-b0"], capture)
    large = events_for(requester, custodians, [f"pay-b{n}" for n in range(1, 5)], capture)
    # when: each set is delivered together, and the large one once more
    small_statements, small_sent = delivered_counting(small)
    large_statements, large_sent = delivered_counting(large)
    again = notifications.deliver(large, now=timezone.now())
    # then: 2 mails for "approval needed" (carol, dave) and 1 for "decided" (alice) per request
    assert [e.kind for e in large] == ["awaiting_approval", "decided"] * 4
    assert (small_sent, large_sent, again.sent) == (3, 12, 0)
    assert small_statements - small_sent == large_statements - large_sent
    assert len(mail.outbox) == 15
    # every notice of a kind has the same deliveries, all sent
    rows = "recipient", "channel", "state"
    per_notice = {
        (notice.kind, tuple(sorted(notice.deliveries.values_list(*rows))))
        for notice in Notice.objects.all()
    }
    assert per_notice == {
        (
            "awaiting_approval",
            tuple(
                sorted(
                    (f"user:{user.pk}", channel, "sent")
                    for user in custodians
                    for channel in ("inapp", "mail")
                )
            ),
        ),
        (
            "decided",
            ((f"user:{requester.pk}", "inapp", "sent"), (f"user:{requester.pk}", "mail", "sent")),
        ),
    }
    assert Notice.objects.count() == 10
    # the decisions settled every "approval needed" inbox item
    assert not Delivery.objects.filter(
        notice__kind="awaiting_approval", channel="inapp", read_at__isnull=True
    ).exists()


def test_a_message_queued_before_events_travelled_in_lists_is_still_delivered(
    pending_request, custodian, second_custodian, django_capture_on_commit_callbacks
):
    # given: the decided event, as an older message carried it (and one without its state)
    with django_capture_on_commit_callbacks() as callbacks:
        approve(pending_request, custodian, second_custodian)
    [event] = events_of(callbacks)
    old = {"state": event.state, "at": event.at.isoformat()}
    # when
    sent = notify_task.apply(args=["decided", str(pending_request.pk)], kwargs=old).get()
    repeated = notify_task.apply(args=["decided", str(pending_request.pk)]).get()
    # then: the one without its state reads the request's now, here the same event: no repeat
    assert (sent, repeated) == (1, 0)
    assert [m.subject for m in mail.outbox] == [
        "[Keywarden] Approved: Create key pay-new (payments)"
    ]
    assert list(Notice.objects.values_list("kind", "outcome")) == [("decided", "approved")]
