"""The in-app inbox: each user sees and marks only their own items (page and API), mark read
is a CSRF-checked POST and audited, and the navigation's unread badge costs one query."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from approvals import services
from audit.context import AuditContext
from audit.models import AuditEvent
from notifications import services as notices
from notifications.context_processors import inbox
from notifications.models import Delivery, Notice
from tests.notifications.conftest import approve, deliver, events_of, submit
from tests.web.conftest import csrf_post

pytestmark = pytest.mark.django_db
NEW_KEY = {"kty": "EC-HSM", "curve": "P-256", "key_ops": ["sign", "verify"]}


@pytest.fixture
def delivered(requester, custodian, second_custodian, django_capture_on_commit_callbacks):
    """Alice's first request was approved (her "Approved" item; carol's and dave's items for it
    settled), her second waits for carol and dave (their unread items)."""
    with django_capture_on_commit_callbacks() as callbacks:
        approve(submit(requester), custodian, second_custodian)
        submit(requester, params={**NEW_KEY, "name": "pay-waiting"})
    for event in events_of(callbacks):
        deliver(event)
    return {
        user.username: Delivery.objects.filter(user=user, channel="inapp")
        .order_by("-notice__created_at")
        .first()
        for user in (requester, custodian, second_custodian)
    }


def unread(user) -> int:
    return Delivery.objects.filter(user=user, channel="inapp", read_at__isnull=True).count()


def test_each_user_lists_only_their_own_items(
    delivered, api_client_for, requester, custodian, other_requester
):
    listed = {
        user.username: [
            (item["subject"], item["kind"], item["outcome"], item["is_read"])
            for item in api_client_for(user).get("/api/v1/inbox/").json()["results"]
        ]
        for user in (requester, custodian, other_requester)
    }
    assert listed == {
        "alice": [
            ("[Keywarden] Approved: Create key pay-new (payments)", "decided", "approved", False)
        ],
        "carol": [
            (
                "[Keywarden] Approval needed: Create key pay-waiting (payments)",
                "awaiting_approval",
                "pending",
                False,
            ),
            (
                "[Keywarden] Approval needed: Create key pay-new (payments)",
                "awaiting_approval",
                "pending",
                True,
            ),
        ],
        "bob": [],
    }


def test_another_user_s_item_is_not_found_and_not_marked(
    delivered, api_client_for, custodian, requester
):
    # given
    client = api_client_for(custodian)
    alices = delivered["alice"].pk
    # when
    detail = client.get(f"/api/v1/inbox/{alices}/")
    marked = client.post("/api/v1/inbox/read/", {"ids": [alices]}, format="json")
    # then
    assert detail.status_code == 404
    assert (marked.status_code, marked.json()) == (200, {"marked": 0, "unread": 1})
    assert unread(requester) == 1
    assert AuditEvent.objects.filter(action="notifications.inbox_read").exists() is False


def test_marking_read_through_the_api_is_audited(delivered, api_client_for, requester):
    response = api_client_for(requester).post(
        "/api/v1/inbox/read/", {"ids": [delivered["alice"].pk]}, format="json"
    )
    assert (response.status_code, response.json()) == (200, {"marked": 1, "unread": 0})
    event = AuditEvent.objects.get(action="notifications.inbox_read")
    assert (event.actor_id, event.after) == (requester.pk, {"items": [delivered["alice"].pk]})


def test_bad_ids_are_refused_with_the_field_named(delivered, api_client_for, requester):
    response = api_client_for(requester).post("/api/v1/inbox/read/", {"ids": ["x"]}, format="json")
    assert response.status_code == 400
    assert response.json() == {
        "detail": "The input is not valid.",
        "errors": {"ids": {"0": ["A valid integer is required."]}},
    }
    assert unread(requester) == 1


def test_the_page_marks_one_item_and_refuses_someone_else_s(delivered, client_for, custodian):
    client = client_for(custodian)
    others = csrf_post(client, f"/inbox/{delivered['alice'].pk}/read/")
    mine = csrf_post(client, f"/inbox/{delivered['carol'].pk}/read/")
    assert others.status_code == 404
    assert (mine.status_code, mine["Location"]) == (302, "/inbox/")
    assert unread(custodian) == 0
    assert Delivery.objects.get(pk=delivered["alice"].pk).read_at is None


def test_mark_all_read_needs_the_csrf_token(delivered, client_for, custodian):
    client = client_for(custodian)
    forged = client.post("/inbox/read-all/")
    assert (forged.status_code, unread(custodian)) == (403, 1)
    done = csrf_post(client, "/inbox/read-all/", follow=True)
    assert unread(custodian) == 0
    assert "Marked 1 item(s) read." in done.content.decode()


def test_the_navigation_shows_the_unread_count_from_one_query(
    delivered, client_for, custodian, django_assert_num_queries
):
    request = RequestFactory().get("/")
    request.user = custodian
    with django_assert_num_queries(1):
        assert inbox(request) == {"inbox_unread": 1}
    page = client_for(custodian).get("/inbox/").content.decode()
    assert '<span class="visually-hidden">unread: </span>1</span>' in page
    assert "[Keywarden] Approval needed: Create key pay-waiting (payments)" in page


def test_an_approval_needed_item_is_settled_once_the_request_is_decided(
    requester, custodian, second_custodian, django_capture_on_commit_callbacks
):
    # given: carol's and dave's "approval needed" items, unread while the request waits
    with django_capture_on_commit_callbacks() as callbacks:
        change = submit(requester)
    (waiting,) = events_of(callbacks)
    deliver(waiting)
    assert (unread(custodian), unread(second_custodian)) == (1, 1)

    # when: both approve and the decision is delivered
    with django_capture_on_commit_callbacks() as callbacks:
        approve(change, custodian, second_custodian)
    for event in events_of(callbacks):
        deliver(event)

    # then: nothing waits for them any more; alice's "Approved" item is new
    assert (unread(custodian), unread(second_custodian), unread(requester)) == (0, 0, 1)


def test_settling_finds_the_request_s_notices_by_their_page_through_an_index(delivered):
    # given: the settling statement of a later event of the waiting request
    path = Notice.objects.get(kind="awaiting_approval", context__key_name="pay-waiting").path
    with CaptureQueriesContext(connection) as captured:
        assert notices.settle_awaiting(paths=[path], now=timezone.now()) == 2
    (statement,) = captured.captured_queries

    # when: planned as for a large table (no scan is cheap there)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN (FORMAT JSON) {statement['sql']}")
        (plan,) = cursor.fetchone()

    # then: the notices are found through their (path, kind) index
    nodes, indexes = [plan[0]["Plan"]], set()
    while nodes:
        node = nodes.pop()
        nodes += node.get("Plans", [])
        indexes.add(node.get("Index Name"))
    assert "notification_notice_path" in indexes


def test_a_cancelled_request_leaves_nothing_waiting(
    requester, custodian, second_custodian, django_capture_on_commit_callbacks
):
    # given
    with django_capture_on_commit_callbacks() as callbacks:
        change = submit(requester)
    (waiting,) = events_of(callbacks)
    deliver(waiting)

    # when
    services.cancel_request(
        request_id=change.pk, requester=requester, ctx=AuditContext(actor=requester)
    )

    # then
    assert (unread(custodian), unread(second_custodian)) == (0, 0)
