"""KeysFirstPaginator pages like Django's Paginator, with the page's annotations computed for
the rows shown only."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.db import connection
from django.test.utils import CaptureQueriesContext

from approvals.selectors import requests_visible_to
from core.paging import KeysFirstPaginator
from tests.approvals.conftest import approve, submit

EC_KEY = {"kty": "EC-HSM", "curve": "P-256", "key_ops": ["sign", "verify"]}


def rows_of(page) -> list[tuple]:
    return [(change.pk, change.approvals_count, change.team.slug) for change in page]


def test_each_page_holds_the_rows_plain_paging_gives(requester, custodian):
    # given: 8 requests, every other one with a vote; pages of 3, the last with an orphan
    for number in range(8):
        change = submit(requester, params={"name": f"pay-page-{number}", **EC_KEY})
        if number % 2:
            approve(change, custodian)
    requests = requests_visible_to(custodian)

    # when
    paged = [rows_of(KeysFirstPaginator(requests, 3, orphans=1).page(n)) for n in (1, 2, 3)]

    # then
    plain = [rows_of(Paginator(requests, 3, orphans=1).page(n)) for n in (1, 2, 3)]
    assert paged == plain
    assert [len(page) for page in paged] == [3, 3, 2]
    assert sorted(count for page in paged for _, count, _ in page) == [0, 0, 0, 0, 1, 1, 1, 1]


def test_the_offset_applies_to_the_bare_keys_and_the_counts_to_the_page(requester, custodian):
    # given
    for number in range(5):
        submit(requester, params={"name": f"pay-page-{number}", **EC_KEY})
    page = KeysFirstPaginator(requests_visible_to(custodian), 2).page(2)

    # when
    with CaptureQueriesContext(connection) as queries:
        list(page)

    # then: the subquery with OFFSET selects ids only; the outer query has no OFFSET
    (sql,) = (query["sql"] for query in queries.captured_queries)
    outer, keys = sql.split('WHERE "approvals_changerequest"."id" IN (SELECT ')
    assert ("OFFSET" in outer, "approvals_approval" in outer) == (False, True)
    assert (keys.split(" FROM ")[0], "approvals_approval" in keys) == ('V0."id" AS "pk"', False)
    assert keys.endswith(
        'ORDER BY V0."created_at" DESC LIMIT 2 OFFSET 2) ORDER BY '
        '"approvals_changerequest"."created_at" DESC'
    )
