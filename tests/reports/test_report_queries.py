"""The dashboard's SQL is constant in the number of keys: the same statements at 20 and at
2,000 keys, for the report, the page and the API."""

from __future__ import annotations

from datetime import timedelta

import pytest

from keys.models import ManagedKey, RotationSchedule
from keys.services.compliance import refresh_compliance
from reports.selectors import report_scope, rotation_report
from tests.reports.conftest import NOW, ROTATE_P1Y

REPORT_QUERIES = 8  # scope: standards, team; report: counts, trend, next 30 days, runs, 2 SLA
PAGE_QUERIES = 13  # session, user, roles (grants, memberships), 7 report (no team named), teams,
# the inbox badge
API_QUERIES = 11  # token sign-in (2), roles (grants, memberships), 7 report


def seed_keys(team, count: int) -> None:
    """`count` keys of `team` in every kind of state (bulk: two statements and a refresh)."""
    keys = ManagedKey.objects.bulk_create(
        ManagedKey(
            name=f"{team.key_prefix}bulk-{index}",
            team=team,
            kty="EC-HSM",
            curve="P-256",
            last_applied=None if index % 7 == 0 else {},
            has_drift=index % 11 == 0,
            current_version_created_on=NOW - timedelta(days=index % 900),
            rotation_policy=ROTATE_P1Y if index % 3 == 0 else None,
            expires_on=NOW + timedelta(days=index % 60) if index % 5 == 0 else None,
            tags={"keywarden-class": "active"} if index % 4 == 0 else {},
        )
        for index in range(count)
    )
    RotationSchedule.objects.bulk_create(
        RotationSchedule(
            key=key,
            cadence="P90D",
            mode="standing",
            approved_by="00000000-0000-4000-8000-000000000001",
            approved_payload_hash="0" * 64,
            created_at=NOW - timedelta(days=10),
            next_run_on=NOW + timedelta(days=index % 45),
        )
        for index, key in enumerate(keys)
        if index % 6 == 1
    )
    refresh_compliance(now=NOW)


@pytest.mark.parametrize("count", [20, 2000])
def test_the_report_runs_the_same_queries_at_20_and_2000_keys(
    count, payments_team, request_history, admin_user, django_assert_num_queries
):
    # given
    seed_keys(payments_team, count)
    admin_user.roles  # noqa: B018 (the user's roles are read once per request, before)
    # when
    with django_assert_num_queries(REPORT_QUERIES):
        report = rotation_report(report_scope(admin_user, team="payments", key_class=None, now=NOW))
    # then
    assert report["tiles"][0]["value"] == count


@pytest.mark.parametrize("count", [20, 2000])
def test_the_page_and_the_api_run_the_same_queries_at_20_and_2000_keys(
    count,
    payments_team,
    requester,
    client_for,
    api_client_for,
    django_assert_num_queries,
):
    # given
    seed_keys(payments_team, count)
    page_client, api_client = client_for(requester), api_client_for(requester)
    # when
    with django_assert_num_queries(PAGE_QUERIES):
        page = page_client.get("/rotation/", {"now": NOW.isoformat()})
    with django_assert_num_queries(API_QUERIES):
        api = api_client.get("/api/v1/reports/rotation/", {"now": NOW.isoformat()})
    # then
    assert page.status_code == api.status_code == 200
    assert api.json()["tiles"][0]["value"] == count
