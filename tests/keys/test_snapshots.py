"""The daily compliance snapshot: counts per team and state, one row per day and team (keys
without a team included), replaced when run again the same day; the jobs' beat entries."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import F, FloatField
from django.db.models.functions import Cast
from django.test.utils import CaptureQueriesContext

from keys.models import ComplianceSnapshot, ManagedKey
from keys.services.snapshots import snapshot_compliance
from keys.tasks import snapshot_compliance_task, warn_owners_task
from tests.factories import ManagedKeyFactory

NOW = datetime(2026, 6, 1, 23, 30, tzinfo=timezone.utc)
ZERO = {
    "not_applicable": 0,
    "expired": 0,
    "overdue": 0,
    "expiring_soon": 0,
    "due_soon": 0,
    "no_rotation": 0,
    "compliant": 0,
    "unjudged": 0,
}


@pytest.fixture
def keys(payments_team, identity_team):
    made = [
        ("pay-a", payments_team, "compliant", "active"),
        ("pay-b", payments_team, "compliant", "active"),
        ("pay-c", payments_team, "overdue", "active"),
        ("pay-d", payments_team, "not_applicable", "deleted"),
        ("pay-e", payments_team, "not_applicable", "purged"),
        ("idn-a", identity_team, "due_soon", "active"),
        ("legacy", None, "", "active"),
    ]
    for name, team, compliance, state in made:
        ManagedKeyFactory(name=name, team=team, compliance_state=compliance, state=state)


def snapshot_rows() -> dict:
    fields = ["team__slug", *ZERO, "total"]
    return {
        row.pop("team__slug"): row
        for row in ComplianceSnapshot.objects.filter(day=NOW.date()).values(*fields)
    }


def test_the_snapshot_counts_each_teams_keys_per_state(keys):
    # when
    with CaptureQueriesContext(connection) as captured:
        written = snapshot_compliance(now=NOW)
    # then: purged keys are left out; one aggregate, the teams' upsert, the no-team row's
    # select and insert, one delete (savepoints aside), however many teams
    assert written == 3
    assert snapshot_rows() == {
        "payments": {**ZERO, "compliant": 2, "overdue": 1, "not_applicable": 1, "total": 4},
        "identity": {**ZERO, "due_soon": 1, "total": 1},
        None: {**ZERO, "unjudged": 1, "total": 1},
    }
    assert len([q for q in captured if "SAVEPOINT" not in q["sql"]]) == 5


def test_running_again_the_same_day_replaces_the_days_rows(keys):
    # given
    snapshot_compliance(now=NOW)
    ManagedKey.objects.filter(name="pay-c").update(compliance_state="compliant")
    ManagedKey.objects.filter(name="idn-a").delete()
    # when
    snapshot_compliance(now=NOW + timedelta(minutes=10))
    snapshot_compliance(now=NOW + timedelta(minutes=20))
    # then: one row per team for the day, the last counts; identity has no keys left
    assert ComplianceSnapshot.objects.count() == 2
    assert snapshot_rows() == {
        "payments": {**ZERO, "compliant": 3, "not_applicable": 1, "total": 4},
        None: {**ZERO, "unjudged": 1, "total": 1},
    }


def test_each_day_gets_its_own_rows_and_the_trend_is_one_query(keys):
    # given
    snapshot_compliance(now=NOW)
    ManagedKey.objects.filter(name="pay-c").update(compliance_state="compliant")
    snapshot_compliance(now=NOW + timedelta(days=1))
    # when: compliant % and overdue per day for the payments team (the dashboard's trend)
    with CaptureQueriesContext(connection) as captured:
        trend = list(
            ComplianceSnapshot.objects.filter(team__slug="payments", day__gte=NOW.date())
            .annotate(share=100 * Cast(F("compliant"), FloatField()) / F("total"))
            .order_by("day")
            .values_list("day", "share", "overdue")
        )
    # then
    assert trend == [
        (NOW.date(), 50.0, 1),
        (NOW.date() + timedelta(days=1), 75.0, 0),
    ]
    assert len(captured) == 1


def test_one_row_per_day_for_keys_without_a_team(db):
    # given
    ComplianceSnapshot.objects.create(day=NOW.date(), team=None, total=1, taken_at=NOW)
    # when / then: NULLS NOT DISTINCT
    with pytest.raises(IntegrityError), transaction.atomic():
        ComplianceSnapshot.objects.create(day=NOW.date(), team=None, total=2, taken_at=NOW)


def test_the_jobs_are_on_the_beat_schedule(settings, keys):
    # when
    snapshot = snapshot_compliance_task()
    warned = warn_owners_task()
    # then
    assert settings.CELERY_BEAT_SCHEDULE["compliance-snapshot"] == {
        "task": "keys.snapshot_compliance",
        "schedule": 86400,
    }
    assert settings.CELERY_BEAT_SCHEDULE["key-warnings"] == {
        "task": "keys.warn_owners",
        "schedule": 3600,
    }
    assert snapshot == {"status": "stored", "rows": 3}
    assert warned == {"status": "warned", "due": 0, "sent": 0, "failed": 0, "digests": 0}
