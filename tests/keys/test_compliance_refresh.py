"""refresh_compliance: classes resolved from tags and team defaults, the verdicts stored on the
rows, a constant number of SQL statements, and the inventory filters on them."""

from datetime import datetime, timedelta, timezone

import pytest

from keys.models import ManagedKey, RotationStandard
from keys.services.compliance import refresh_compliance
from keys.tasks import refresh_compliance_task
from tests.factories import ManagedKeyFactory

NOW = datetime(2026, 6, 1, 12, tzinfo=timezone.utc)


def days_ago(days: int) -> datetime:
    return NOW - timedelta(days=days)


@pytest.fixture
def keys(payments_team, identity_team):
    identity_team.default_rotation_class = "active"
    identity_team.save()
    RotationStandard.objects.create(
        key_class="active", team=payments_team, max_age="P60D", warn_before="P14D"
    )
    made = {
        # payments: `standard` unless tagged; its `active` override is 60 days.
        "pay-plain": ManagedKeyFactory(
            name="pay-plain", team=payments_team, current_version_created_on=days_ago(95)
        ),
        "pay-active": ManagedKeyFactory(
            name="pay-active",
            team=payments_team,
            tags={"keywarden-class": "active"},
            current_version_created_on=days_ago(50),
        ),
        "pay-odd-tag": ManagedKeyFactory(
            name="pay-odd-tag",
            team=payments_team,
            tags={"keywarden-class": "nonesuch"},
            current_version_created_on=days_ago(10),
        ),
        "pay-rotating": ManagedKeyFactory(
            name="pay-rotating",
            team=payments_team,
            current_version_created_on=days_ago(10),
            rotation_policy={
                "lifetime_actions": [{"action": "Rotate", "time_after_create": "P1Y"}]
            },
        ),
        "pay-deleted": ManagedKeyFactory(
            name="pay-deleted", team=payments_team, state="deleted", current_version_created_on=NOW
        ),
        # identity: its default class is `active` (90 days).
        "idn-default": ManagedKeyFactory(
            name="idn-default", team=identity_team, current_version_created_on=days_ago(95)
        ),
        "idn-tagged": ManagedKeyFactory(
            name="idn-tagged",
            team=identity_team,
            tags={"keywarden-class": "standard"},
            current_version_created_on=days_ago(95),
        ),
        "legacy": ManagedKeyFactory(name="legacy", team=None, current_version_created_on=None),
    }
    return made


def verdicts() -> dict:
    return {
        name: (key_class, state, due_on, mechanism)
        for name, key_class, state, due_on, mechanism in ManagedKey.objects.values_list(
            "name",
            "rotation_class",
            "compliance_state",
            "compliance_due_on",
            "compliance_mechanism",
        )
    }


def test_refresh_stores_each_keys_class_and_verdict(keys):
    # when
    changed = refresh_compliance(now=NOW)
    # then
    assert changed == 8
    assert verdicts() == {
        "pay-plain": ("standard", "no_rotation", days_ago(95).replace(year=2028), "none"),
        "pay-active": ("active", "due_soon", days_ago(50) + timedelta(days=60), "none"),
        "pay-odd-tag": ("standard", "no_rotation", days_ago(10).replace(year=2028), "none"),
        "pay-rotating": ("standard", "compliant", days_ago(10).replace(year=2027), "hsm_policy"),
        "pay-deleted": ("standard", "not_applicable", None, "none"),
        "idn-default": ("active", "overdue", days_ago(5), "none"),
        "idn-tagged": ("standard", "no_rotation", days_ago(95).replace(year=2028), "none"),
        "legacy": ("standard", "no_rotation", None, "none"),
    }
    assert ManagedKey.objects.get(name="idn-default").compliance_reason == (
        "Current version is 95 days old; the active class allows 90 days."
    )


def test_a_second_refresh_at_the_same_time_writes_nothing(keys):
    # given
    refresh_compliance(now=NOW)
    # when
    changed = refresh_compliance(now=NOW)
    # then
    assert changed == 0


def test_refresh_of_given_rows_judges_only_those(keys):
    # when
    changed = refresh_compliance(now=NOW, keys=[keys["idn-default"]])
    # then
    assert changed == 1
    assert ManagedKey.objects.get(name="idn-default").compliance_state == "overdue"
    assert ManagedKey.objects.get(name="pay-plain").compliance_state == ""


@pytest.mark.parametrize(("_case", "count"), [("10 keys", 10), ("200 keys", 200)])
def test_refresh_runs_the_same_statements_for_10_and_200_keys(
    _case, count, payments_team, django_assert_num_queries
):
    # given
    ManagedKey.objects.bulk_create(
        ManagedKey(name=f"pay-bulk-{n}", team=payments_team, current_version_created_on=NOW)
        for n in range(count)
    )
    # then: standards, team defaults; one batch (savepoint, SELECT … FOR UPDATE SKIP LOCKED,
    # its schedules, UPDATE, release); the empty last batch (savepoint, SELECT, release)
    with django_assert_num_queries(10):
        changed = refresh_compliance(now=NOW)
    assert changed == count


def test_refresh_of_given_rows_runs_one_update_per_batch(payments_team, django_assert_num_queries):
    # given
    rows = ManagedKey.objects.bulk_create(
        ManagedKey(name=f"pay-bulk-{n}", team=payments_team, current_version_created_on=NOW)
        for n in range(200)
    )
    # then: standards, team defaults, their schedules, one UPDATE
    with django_assert_num_queries(4):
        refresh_compliance(now=NOW, keys=rows)


@pytest.mark.parametrize(
    ("_case", "query", "expected"),
    [
        ("overdue", {"compliance": "overdue"}, ["idn-default"]),
        ("due soon", {"compliance": "due_soon"}, ["pay-active"]),
        ("compliant", {"compliance": "compliant"}, ["pay-rotating"]),
        ("not applicable", {"compliance": "not_applicable"}, ["pay-deleted"]),
        (
            "no rotation",
            {"compliance": "no_rotation"},
            ["idn-tagged", "legacy", "pay-odd-tag", "pay-plain"],
        ),
        ("class", {"rotation_class": "active"}, ["idn-default", "pay-active"]),
        ("mechanism", {"mechanism": "hsm_policy"}, ["pay-rotating"]),
        (
            "due before",
            {"due_before": "2026-06-20T00:00:00Z"},
            ["idn-default", "pay-active"],
        ),
        (
            "due after",
            {"due_after": "2028-01-01T00:00:00Z"},
            ["idn-tagged", "pay-odd-tag", "pay-plain"],
        ),
        (
            "due between",
            {"due_after": "2026-06-01T00:00:00Z", "due_before": "2027-12-31T00:00:00Z"},
            ["pay-active", "pay-rotating"],
        ),
        ("unknown state", {"compliance": "late"}, None),
    ],
)
def test_key_list_filters_on_compliance(_case, query, expected, keys, custodian, api_client_for):
    # given
    refresh_compliance(now=NOW)
    # when
    response = api_client_for(custodian).get("/api/v1/keys/", query)
    # then
    assert response.status_code == (200 if expected is not None else 400)
    names = [key["name"] for key in response.json().get("results", [])]
    assert names == (expected or [])


def test_the_daily_job_judges_every_key_as_of_now(keys, settings):
    # when
    result = refresh_compliance_task()
    # then
    assert settings.CELERY_BEAT_SCHEDULE["compliance-refresh"] == {
        "task": "keys.refresh_compliance",
        "schedule": 86400,
    }
    assert result == {"status": "refreshed", "changed": 8}
    assert ManagedKey.objects.filter(compliance_state="").exists() is False
