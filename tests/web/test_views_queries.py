"""List pages run the same number of SQL queries with 10 rows as with 200: no query per row."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from audit import Target
from audit.actions import Action
from audit.context import AuditContext
from audit.services import EventSpec, record_events
from tests.approvals.conftest import approve, submit
from tests.factories import ManagedKeyFactory

EC_KEY = {"kty": "EC-HSM", "curve": "P-256", "key_ops": ["sign", "verify"]}


def add_keys(count, *, start, payments_team, **_):
    for number in range(start, start + count):
        key = ManagedKeyFactory(name=f"pay-bulk-{number:03}", team=payments_team)
        key.versions.create(version=f"v{number}")


def add_requests(count, *, start, requester, custodian, **_):
    for number in range(start, start + count):
        change = submit(requester, params={"name": f"pay-bulk-{number:03}", **EC_KEY})
        approve(change, custodian)


def add_events(count, *, start, requester, **_):
    specs = [
        EventSpec(Action.TEAM_UPDATED, Target("keys.managedkey", str(n), f"pay-bulk-{n:03}"))
        for n in range(start, start + count)
    ]
    with transaction.atomic():
        record_events(AuditContext(actor=requester), specs)


def queries_for(client, url) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


@pytest.mark.parametrize(
    ("_case", "url", "viewer", "add_rows"),
    [
        ("inventory", "/keys/?ordering=-name", "requester", add_keys),
        ("inventory filtered", "/keys/?state=active&search=bulk", "custodian", add_keys),
        ("request list", "/requests/?state=pending", "requester", add_requests),
        ("approval queue", "/approvals/", "second_custodian", add_requests),
        ("audit trail", "/audit/", "auditor", add_events),
        ("home of a requester", "/", "requester", add_requests),
    ],
)
def test_list_page_queries_do_not_grow_with_rows(
    _case,
    url,
    viewer,
    add_rows,
    request,
    client_for,
    payments_team,
    requester,
    custodian,
    second_custodian,
    auditor,
):
    # given
    rows = {"payments_team": payments_team, "requester": requester, "custodian": custodian}
    client = client_for(request.getfixturevalue(viewer))
    add_rows(10, start=0, **rows)
    with_ten = queries_for(client, url)
    add_rows(190, start=10, **rows)

    # when
    with_two_hundred = queries_for(client, url)

    # then
    assert with_two_hundred == with_ten


@pytest.mark.parametrize("rows", [5, 60])
@pytest.mark.parametrize(
    ("_case", "url", "viewer", "queries"),
    [
        ("request list", "/requests/", "custodian", 7),
        ("request list by state", "/requests/?state=pending&state=approved", "custodian", 7),
        ("API request list", "/api/v1/requests/", "custodian", 7),
        ("API request list by state", "/api/v1/requests/?state=pending", "custodian", 7),
        # + the page's votes and the custodians, for "can never reach quorum"
        ("approval queue", "/approvals/", "second_custodian", 9),
        ("home of a custodian", "/", "second_custodian", 9),
        # + worker and beat heartbeats, the oldest approved request, the custody register
        ("home of an admin", "/", "admin_user", 21),
    ],
)
def test_request_list_pages_run_a_fixed_number_of_queries(
    _case,
    url,
    viewer,
    queries,
    rows,
    request,
    client_for,
    requester,
    custodian,
    django_assert_num_queries,
):
    # given: pending requests with 1 of 2 approvals, more than a page of them at 60
    add_requests(rows, start=0, requester=requester, custodian=custodian)
    client = client_for(request.getfixturevalue(viewer))
    client.get(url)  # the session's first read (and any per-process cache) is not the page's

    # when
    with django_assert_num_queries(queries):
        response = client.get(url)

    # then
    assert response.status_code == 200


def test_request_lists_show_each_request_s_approvals(
    client_for, api_client_for, requester, custodian, second_custodian
):
    # given: more than a page of pending requests, each approved by one of two custodians
    add_requests(30, start=0, requester=requester, custodian=custodian)

    # when
    page = client_for(custodian).get("/requests/").content.decode()
    queue = client_for(second_custodian).get("/approvals/").content.decode()
    listed = api_client_for(custodian).get("/api/v1/requests/").json()["results"]

    # then
    assert (page.count("<td>1/2</td>"), queue.count("<td>1/2</td>")) == (25, 25)
    assert [change["approvals_count"] for change in listed] == [1] * 30
