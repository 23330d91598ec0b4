"""The approval queue is `can_decide` as a query: it lists exactly what the custodian's vote
would be accepted on, oldest first."""

from datetime import timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.services import set_user_access
from approvals import services
from approvals.filters import ChangeRequestFilter
from approvals.models import ChangeRequest
from approvals.permissions import can_decide
from approvals.selectors import approval_queue_for, requests_visible_to
from audit.context import AuditContext
from tests.approvals.conftest import approve, submit

EC_KEY = {"name": "pay-new", "kty": "EC-HSM", "curve": "P-256", "key_ops": ["sign", "verify"]}


def test_expired_pending_request_is_not_in_the_queue(pending_request, custodian, api_client_for):
    # given: past its deadline, but the expiry job has not run yet
    ChangeRequest.objects.filter(pk=pending_request.pk).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    pending_request.refresh_from_db()

    # when
    queue = list(approval_queue_for(custodian, now=timezone.now()))
    detail = api_client_for(custodian).get(f"/api/v1/requests/{pending_request.pk}/").json()

    # then
    assert pending_request.state == "pending"
    assert queue == []
    assert detail["allowed_actions"] == []


def test_request_expires_out_of_the_queue_at_its_deadline(pending_request, custodian):
    deadline = pending_request.expires_at
    before = approval_queue_for(custodian, now=deadline - timedelta(seconds=1))
    at = approval_queue_for(custodian, now=deadline)
    assert (list(before), list(at)) == ([pending_request], [])


def test_queue_lists_exactly_what_the_custodian_may_decide(
    inventory, requester, other_requester, payments_team, custodian
):
    # given: fresh, already voted, own, expired, decided and another team's requests
    set_user_access(
        user=custodian, teams=[payments_team], roles=["custodian"], ctx=AuditContext.system("test")
    )
    fresh = submit(requester, "key.rotate", params={"name": "pay-live"})
    voted = approve(submit(requester, "key.rotate", params={"name": "pay-rsa"}), custodian)
    submit(custodian, "key.rotate", params={"name": "pay-kek"})  # the custodian's own
    expired = submit(requester, params=EC_KEY)
    ChangeRequest.objects.filter(pk=expired.pk).update(expires_at=timezone.now())
    cancelled = submit(requester, params={**EC_KEY, "name": "pay-gone"})
    services.cancel_request(request_id=cancelled.pk, requester=requester, ctx=AuditContext())
    other_team = submit(other_requester, "key.rotate", team="identity", params={"name": "idn-key"})
    now = timezone.now()

    # when
    queue = list(approval_queue_for(custodian, now=now))

    # then
    decidable = [
        change
        for change in requests_visible_to(custodian).order_by("created_at")
        if can_decide(custodian, change, now=now)
    ]
    assert queue == decidable == [fresh, other_team]
    assert voted not in queue


def test_queue_is_empty_for_someone_who_does_not_decide(pending_request, admin_user, auditor):
    now = timezone.now()
    assert [list(approval_queue_for(user, now=now)) for user in (admin_user, auditor)] == [[], []]


def test_visible_requests_count_votes_per_returned_row_and_page_with_a_plain_count(
    pending_request, custodian, second_custodian
):
    # given: 1 of 2 approvals
    approve(pending_request, custodian)
    requests = ChangeRequestFilter(
        {"state": ["pending", "approved"]}, queryset=requests_visible_to(second_custodian)
    ).qs

    # when
    with CaptureQueriesContext(connection) as queries:
        rows = [(change.pk, change.approvals_count) for change in requests[:25]]
        total = requests.count()

    # then: a correlated subquery per row, no GROUP BY or DISTINCT over every request
    page_sql, count_sql = (query["sql"] for query in queries.captured_queries)
    assert (rows, total) == ([(pending_request.pk, 1)], 1)
    assert ("GROUP BY" in page_sql, "DISTINCT" in page_sql, "LIMIT 25" in page_sql) == (
        False,
        False,
        True,
    )
    assert count_sql.startswith('SELECT COUNT(*) AS "__count" FROM "approvals_changerequest" WHERE')
    assert "SELECT" not in count_sql.removeprefix("SELECT")
