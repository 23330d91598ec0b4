"""GET /api/v1/reports/rotation/: every number of the seeded inventory (tests/reports/conftest.py)
as counted by hand, per role; the scope a requester gets; 404 and 400; the tiles' inventory
links list exactly the keys they count; the trend from the snapshots; approval service levels."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.db import connection

from keys.models import ComplianceSnapshot, ManagedKey
from keys.services.snapshots import snapshot_compliance
from tests.reports.conftest import NOW, tiles_of

URL = "/api/v1/reports/rotation/"
AT_NOW = {"now": NOW.isoformat()}

ALL_TEAMS = {
    "keys": 43,
    "compliant_percent": 30.0,
    "overdue": 9,
    "due_30_days": 7,
    "expiring_30_days": 3,
    "no_mechanism": 18,
    "unmanaged": 4,
    "drift": 3,
}
PAYMENTS = {
    "keys": 15,
    "compliant_percent": 42.9,
    "overdue": 2,
    "due_30_days": 2,
    "expiring_30_days": 1,
    "no_mechanism": 5,
    "unmanaged": 1,
    "drift": 1,
}
ACTIVE_CLASS = {
    "keys": 10,
    "compliant_percent": 30.0,
    "overdue": 3,
    "due_30_days": 4,
    "expiring_30_days": 0,
    "no_mechanism": 3,
    "unmanaged": 0,
    "drift": 0,
}


def get_report(client, **query):
    return client.get(f"{URL}?{urlencode({**AT_NOW, **query})}")


def test_the_seeded_keys_are_in_the_states_the_table_says(seeded_inventory):
    # when
    stored = dict(ManagedKey.objects.values_list("name", "compliance_state"))
    # then
    assert len(stored) == 46
    assert stored == seeded_inventory
    assert set(stored.values()) == {
        "not_applicable",
        "expired",
        "overdue",
        "expiring_soon",
        "due_soon",
        "no_rotation",
        "compliant",
    }


@pytest.mark.parametrize(
    ("_case", "role", "query", "tiles"),
    [
        ("admin, every team", "admin", {}, ALL_TEAMS),
        ("custodian, every team", "custodian", {}, ALL_TEAMS),
        ("auditor, every team", "auditor", {}, ALL_TEAMS),
        ("admin, one team", "admin", {"team": "payments"}, PAYMENTS),
        ("auditor, one class", "auditor", {"class": "active"}, ACTIVE_CLASS),
        ("requester, their team", "requester", {}, PAYMENTS),
        ("requester, their team named", "requester", {"team": "payments"}, PAYMENTS),
    ],
)
def test_tiles_equal_the_hand_counted_numbers(
    _case, role, query, tiles, seeded_inventory, user_for_role, api_client_for
):
    # given
    client = api_client_for(user_for_role(role))
    # when
    response = get_report(client, **query)
    # then
    assert response.status_code == 200
    assert tiles_of(response.json()) == tiles


def test_team_table_and_state_bars_per_team(seeded_inventory, admin_user, api_client_for):
    # when
    report = get_report(api_client_for(admin_user)).json()
    # then
    rows = [
        (
            row["team"],
            row["keys"],
            row["compliant_percent"],
            row["overdue"],
            row["due_soon"],
            row["no_mechanism"],
            row["oldest_version_age_days"],
        )
        for row in report["teams"]
    ]
    assert rows == [
        ("identity", 14, 23.1, 4, 2, 7, 800),
        ("payments", 15, 42.9, 2, 2, 5, 800),
        ("storage", 13, 25.0, 2, 3, 5, 800),
        ("", 1, 0.0, 1, 0, 1, 900),
    ]
    assert report["teams"][1]["states"] == {
        "not_applicable": 1,
        "expired": 1,
        "overdue": 2,
        "expiring_soon": 1,
        "due_soon": 2,
        "no_rotation": 2,
        "compliant": 6,
    }
    assert report["states"] == {
        "not_applicable": 3,
        "expired": 3,
        "overdue": 9,
        "expiring_soon": 3,
        "due_soon": 7,
        "no_rotation": 6,
        "compliant": 12,
    }


@pytest.mark.parametrize(
    ("_case", "query", "bins", "limits"),
    [
        ("every class", {}, [9, 10, 12, 3, 3, 6], [("active", 90), ("standard", 730)]),
        ("active class", {"class": "active"}, [3, 4, 3, 0, 0, 0], [("active", 90)]),
    ],
)
def test_age_histogram_with_the_class_limits(
    _case, query, bins, limits, seeded_inventory, auditor, api_client_for
):
    # when
    histogram = get_report(api_client_for(auditor), **query).json()["age_histogram"]
    # then
    assert [item["keys"] for item in histogram["bins"]] == bins
    assert [item["label"] for item in histogram["bins"]] == [
        "0-30 d",
        "30-90 d",
        "90-180 d",
        "180 d-1 y",
        "1-2 y",
        "> 2 y",
    ]
    assert [(limit["key_class"], limit["days"]) for limit in histogram["class_limits"]] == limits
    assert histogram["unknown_age"] == 0


def test_next_30_days_lists_hsm_and_schedule_rotations_and_expiries(
    seeded_inventory, requester, api_client_for
):
    # when
    upcoming = get_report(api_client_for(requester)).json()["upcoming"]
    # then: C by its HSM policy in 5 days, H expires in 10, D's schedule in 20 (B's is in 40)
    assert [(row["on"], row["kind"], row["by"], row["key"]) for row in upcoming] == [
        ("2026-06-06T12:00:00Z", "rotation", "hsm_policy", "pay-c-2"),
        ("2026-06-11T12:00:00Z", "expiry", "", "pay-h-7"),
        ("2026-06-21T12:00:00Z", "rotation", "schedule", "pay-d-3"),
    ]


def test_requester_sees_only_their_teams_numbers(
    seeded_inventory, request_history, requester, other_requester, api_client_for
):
    # when
    alice = get_report(api_client_for(requester)).json()
    bob = get_report(api_client_for(other_requester)).json()
    # then
    assert [row["team"] for row in alice["teams"]] == ["payments"]
    assert [row["team"] for row in bob["teams"]] == ["identity"]
    assert tiles_of(bob)["keys"] == 14
    assert {row["key"] for row in alice["upcoming"]} == {"pay-c-2", "pay-h-7", "pay-d-3"}
    assert {row["key"] for row in bob["upcoming"]} == {"idn-c-2", "idn-h-7", "idn-d-3"}
    assert len(alice["schedule_runs"]) == 2
    assert bob["schedule_runs"] == []
    assert bob["service_levels"] == []


@pytest.mark.parametrize(
    ("_case", "team"), [("another team's", "identity"), ("no such team", "nonesuch")]
)
def test_requester_gets_404_for_a_team_they_cannot_see(
    _case, team, seeded_inventory, requester, api_client_for
):
    # when
    response = get_report(api_client_for(requester), team=team)
    # then
    assert response.status_code == 404
    assert "payments" not in response.content.decode()


@pytest.mark.parametrize(
    ("_case", "query", "field"),
    [
        ("now not a date", {"now": "yesterday"}, "now"),
        ("unknown class", {"class": "nonesuch"}, "class"),
        ("team not a slug", {"team": "no such/team"}, "team"),
        ("class not a slug", {"class": "a b"}, "class"),
    ],
)
def test_bad_parameters_answer_400_with_errors(
    _case, query, field, seeded_inventory, admin_user, api_client_for
):
    # when
    response = api_client_for(admin_user).get(f"{URL}?{urlencode(query)}")
    # then
    assert response.status_code == 400
    assert list(response.json()["errors"]) == [field]


def test_unauthenticated_gets_401(anonymous_client):
    assert anonymous_client.get(URL).status_code == 401


@pytest.mark.parametrize(
    ("_case", "role", "query"),
    [
        ("admin, every team", "admin", {}),
        ("requester", "requester", {}),
        ("auditor, active class", "auditor", {"class": "active"}),
        ("custodian, storage", "custodian", {"team": "storage"}),
    ],
)
def test_each_tile_links_to_an_inventory_of_exactly_its_keys(
    _case, role, query, seeded_inventory, user_for_role, api_client_for
):
    # given
    client = api_client_for(user_for_role(role))
    report = get_report(client, **query).json()
    compliant = client.get(report["tiles"][1]["link"].replace("/keys/", "/api/v1/keys/", 1))
    # when: each link asked of the inventory API (the same filters as the page)
    listed = {
        tile["name"]: client.get(tile["link"].replace("/keys/", "/api/v1/keys/", 1)).json()["count"]
        for tile in report["tiles"]
        if tile["name"] != "compliant_percent"
    }
    # then
    counted = {name: value for name, value in tiles_of(report).items() if name in listed}
    assert listed == counted
    compliant_keys = [key["compliance_state"] for key in compliant.json()["results"]]
    assert set(compliant_keys) == {"compliant"}


def test_no_mechanism_link_names_exactly_the_judged_keys_nothing_rotates(
    seeded_inventory, requester, api_client_for
):
    # given
    client = api_client_for(requester)
    tiles = {tile["name"]: tile for tile in get_report(client).json()["tiles"]}
    # when
    link = tiles["no_mechanism"]["link"].replace("/keys/", "/api/v1/keys/", 1)
    names = sorted(key["name"] for key in client.get(link).json()["results"])
    # then: E, F, G, I, J of payments; not the disabled L nor the deleted M
    assert names == ["pay-e-4", "pay-f-5", "pay-g-6", "pay-i-8", "pay-j-9"]


@pytest.fixture
def snapshots(seeded_inventory, payments_team, identity_team):
    """Literal past snapshots of payments and identity, and today's taken by the real job."""
    rows = [
        (100, payments_team, 2, 5, 10, 0),
        (100, identity_team, 4, 1, 8, 2),
        (30, payments_team, 5, 3, 12, 2),
        (30, identity_team, 3, 2, 10, 0),
    ]
    for days_ago, team, compliant, overdue, total, not_applicable in rows:
        ComplianceSnapshot.objects.create(
            day=(NOW - timedelta(days=days_ago)).date(),
            team=team,
            compliant=compliant,
            overdue=overdue,
            total=total,
            not_applicable=not_applicable,
            taken_at=NOW - timedelta(days=days_ago),
        )
    snapshot_compliance(now=NOW)


@pytest.mark.parametrize(
    ("_case", "role", "now", "trend"),
    [
        (
            "today: the last 90 days",
            "admin",
            NOW,
            [("2026-05-02", 40.0, 5, 22), ("2026-06-01", 30.0, 9, 46)],
        ),
        (
            "twenty days ago",
            "auditor",
            NOW - timedelta(days=20),
            [("2026-02-21", 37.5, 6, 18), ("2026-05-02", 40.0, 5, 22)],
        ),
        (
            "requester, twenty days ago",
            "requester",
            NOW - timedelta(days=20),
            [("2026-02-21", 20.0, 5, 10), ("2026-05-02", 50.0, 3, 12)],
        ),
    ],
)
def test_trend_is_read_from_the_snapshots_of_the_90_days_up_to_now(
    _case, role, now, trend, snapshots, user_for_role, api_client_for
):
    # when
    response = get_report(api_client_for(user_for_role(role)), now=now.isoformat())
    # then
    days = [
        (day["day"], day["compliant_percent"], day["overdue"], day["keys"])
        for day in response.json()["trend"]
    ]
    assert days == trend


def test_todays_trend_point_equals_the_tiles(snapshots, admin_user, api_client_for):
    # when
    report = get_report(api_client_for(admin_user)).json()
    # then
    assert report["trend"][-1]["compliant_percent"] == tiles_of(report)["compliant_percent"]
    assert report["trend"][-1]["overdue"] == tiles_of(report)["overdue"]


def test_approval_service_levels_of_the_last_30_days(
    seeded_inventory, request_history, admin_user, api_client_for
):
    # when
    levels = get_report(api_client_for(admin_user)).json()["service_levels"]
    # then: key.rotate — first decisions 1 h, 2 h, 4 h; quorum 3 h, 6 h; 6 requests in the
    # window (r0 is older), one expired, one rejected; pending past the wait: p1 (7 days),
    # u1 (its policy's 1 day)
    assert levels == [
        {
            "operation": "key.create",
            "requests": 2,
            "first_decision_median_seconds": None,
            "first_decision_p90_seconds": None,
            "quorum_median_seconds": None,
            "quorum_p90_seconds": None,
            "expired": 0,
            "rejected": 0,
            "expired_percent": 0.0,
            "rejected_percent": 0.0,
            "open_overdue": 1,
        },
        {
            "operation": "key.rotate",
            "requests": 6,
            "first_decision_median_seconds": 7200.0,
            "first_decision_p90_seconds": 12960.0,
            "quorum_median_seconds": 16200.0,
            "quorum_p90_seconds": 20520.0,
            "expired": 1,
            "rejected": 1,
            "expired_percent": 16.7,
            "rejected_percent": 16.7,
            "open_overdue": 0,
        },
        {
            "operation": "key.update",
            "requests": 1,
            "first_decision_median_seconds": None,
            "first_decision_p90_seconds": None,
            "quorum_median_seconds": None,
            "quorum_p90_seconds": None,
            "expired": 0,
            "rejected": 0,
            "expired_percent": 0.0,
            "rejected_percent": 0.0,
            "open_overdue": 1,
        },
    ]


def test_recent_schedule_runs_failed_first(
    seeded_inventory, request_history, custodian, api_client_for
):
    # when
    runs = get_report(api_client_for(custodian)).json()["schedule_runs"]
    # then
    assert [(run["key"], run["state"]) for run in runs] == [
        ("pay-b-1", "failed"),
        ("pay-d-3", "succeeded"),
    ]
    assert runs[0]["error"] == "=HYPERLINK(evil) Caller is not authorized."


@pytest.mark.skipif(connection.vendor != "postgresql", reason="percentile_cont is PostgreSQL's")
def test_the_python_fallback_computes_the_same_service_levels_as_sql(
    request_history, payments_team
):
    from approvals.models import ChangeRequest
    from reports.service_levels import _timings_in_sql, timings_in_python

    # given
    requests = ChangeRequest.objects.filter(team=payments_team)
    window = {"start": NOW - timedelta(days=30), "end": NOW}
    # when
    in_sql = _timings_in_sql(requests, **window)
    in_python = timings_in_python(requests, **window)
    # then
    assert in_python == in_sql
    assert in_sql["key.rotate"]["first_decision_p90_seconds"] == 12960.0


def test_the_schema_documents_the_endpoint(admin_user, api_client_for):
    # when
    schema = api_client_for(admin_user).get("/api/schema/?format=json").json()
    # then
    operation = schema["paths"]["/api/v1/reports/rotation/"]["get"]
    assert {parameter["name"] for parameter in operation["parameters"]} == {"team", "class", "now"}
    assert "RotationReport" in schema["components"]["schemas"]
