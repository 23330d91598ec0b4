"""Findings as stored: one row per rule and subject however often it is judged, accepted risks
with a reason and an expiry (audited) that fall back into open findings, and who may see and
act on them on the API and the page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from posture.models import Finding, FindingState
from tests.support.hsm import OUT_OF_BAND_OID
from tests.web.conftest import csrf_post

pytestmark = pytest.mark.django_db
RULE = "principal.multiple_roles"  # the test HSM's out-of-band operator holds two roles


@pytest.fixture
def finding(judge):
    judge()
    return Finding.objects.get(rule=RULE)


def test_judging_again_updates_the_same_finding(judge, finding):
    later = timezone.now() + timedelta(hours=3)

    judge(now=later)

    again = Finding.objects.get(rule=RULE)
    assert Finding.objects.filter(rule=RULE).count() == 1
    assert (again.pk, again.first_seen, again.last_seen) == (finding.pk, finding.first_seen, later)
    assert again.subject == OUT_OF_BAND_OID


def test_an_accepted_risk_is_audited_and_expires_back_into_an_open_finding(
    judge, finding, custodian, api_client_for
):
    now = timezone.now()
    until = now + timedelta(days=1)

    response = api_client_for(custodian).post(
        f"/api/v1/posture/findings/{finding.pk}/accept/",
        {"reason": "operator leaves on Friday", "expires_at": until.isoformat()},
        format="json",
    )
    judge(now=now + timedelta(days=2))

    assert response.status_code == 200
    assert response.json()["state"] == "accepted"
    finding.refresh_from_db()
    assert finding.state_at(now) == FindingState.ACCEPTED
    assert finding.state_at(now + timedelta(days=2)) == FindingState.OPEN
    assert (finding.resolved_at, finding.accepted_by) == (None, custodian)
    event = AuditEvent.objects.get(action="posture.risk_accepted")
    assert (event.actor_id, event.after["reason"]) == (custodian.pk, "operator leaves on Friday")


@pytest.mark.parametrize(
    ("_case", "body", "errors"),
    [
        ("no reason", {"reason": "  "}, {"reason": ["Say why the risk is accepted."]}),
        (
            "expiry too far",
            {"days": 91},
            {
                "expires_at": [
                    "At most 90 days ahead (POSTURE_MAX_ACCEPTANCE_DAYS): accepted risks are "
                    "reviewed again."
                ]
            },
        ),
        ("expiry passed", {"days": -1}, {"expires_at": ["Must be in the future."]}),
    ],
)
def test_a_bad_acceptance_says_which_rule_and_changes_nothing(
    finding, admin_user, api_client_for, _case, body, errors
):
    expires = timezone.now() + timedelta(days=body.get("days", 5))
    events = AuditEvent.objects.count()

    response = api_client_for(admin_user).post(
        f"/api/v1/posture/findings/{finding.pk}/accept/",
        {"reason": body.get("reason", "known"), "expires_at": expires.isoformat()},
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["errors"] == errors
    finding.refresh_from_db()
    assert (finding.accepted_until, AuditEvent.objects.count()) == (None, events)


@pytest.mark.parametrize(
    ("_case", "role", "status"),
    [
        ("admin", "admin", 200),
        ("custodian", "custodian", 200),
        ("auditor", "auditor", 200),
        ("requester", "requester", 403),
        ("no role", "outsider", 403),
    ],
)
def test_findings_are_for_admins_custodians_and_auditors(
    finding,
    user_for_role,
    api_client_for,
    client_for,
    _case,
    role,
    status,
):
    user = user_for_role(role)

    api = api_client_for(user).get("/api/v1/posture/findings/")
    page = client_for(user).get("/posture/")

    assert (api.status_code, page.status_code) == (status, status)


def test_the_api_filters_by_severity_rule_and_state(finding, auditor, api_client_for):
    client = api_client_for(auditor)

    def rules(query: str) -> list[str]:
        found = client.get(f"/api/v1/posture/findings/?{query}").json()["results"]
        return sorted(f["rule"] for f in found)

    assert RULE in rules("state=open")
    assert rules(f"rule={RULE}") == [RULE]
    assert RULE not in rules("severity=high")
    assert rules("state=resolved") == []
    assert client.get("/api/v1/posture/findings/?state=gone").status_code == 400


@pytest.mark.parametrize(
    ("_case", "role", "status"), [("auditor", "auditor", 403), ("requester", "requester", 403)]
)
def test_only_admins_and_custodians_accept_risks_or_start_a_check(
    finding, user_for_role, api_client_for, _case, role, status
):
    client = api_client_for(user_for_role(role))
    until = (timezone.now() + timedelta(days=1)).isoformat()
    events = AuditEvent.objects.count()

    accepted = client.post(
        f"/api/v1/posture/findings/{finding.pk}/accept/",
        {"reason": "mine", "expires_at": until},
        format="json",
    )
    checked = client.post("/api/v1/posture/check/")

    assert (accepted.status_code, checked.status_code) == (status, status)
    finding.refresh_from_db()
    assert (finding.accepted_until, AuditEvent.objects.count()) == (None, events)


def test_the_page_refuses_a_bad_acceptance_with_the_reason_and_keeps_the_input(
    finding,
    custodian,
    client_for,
):
    client = client_for(custodian)
    too_far = (timezone.now() + timedelta(days=120)).strftime("%Y-%m-%dT%H:%M")

    response = csrf_post(
        client,
        f"/posture/findings/{finding.pk}/accept/",
        {"reason": "vendor fix due", "expires_at": too_far},
    )

    body = response.content.decode()
    assert response.status_code == 400
    assert "At most 90 days ahead (POSTURE_MAX_ACCEPTANCE_DAYS)" in body
    assert "vendor fix due" in body
    finding.refresh_from_db()
    assert finding.accepted_until is None
