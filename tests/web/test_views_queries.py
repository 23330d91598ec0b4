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
