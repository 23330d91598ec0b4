"""Every action for every role: what the API offers (`allowed_actions`) is what the services
accept. Each cell reads the offer, really attempts the action, and checks the outcome: allowed →
success and the change happened; refused → 403 or 404, nothing changed, no audit event."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from approvals.models import ApprovalPolicy, ChangeRequest, State
from approvals.services.backups import store_backup
from audit.models import AuditEvent, VerificationRun
from tests.approvals.conftest import approve, submit

BLOB = b"hsm backup blob of pay-live"
ROLE_FIXTURES = {
    "requester-owner": "requester",
    "other-team requester": "other_requester",
    "custodian": "custodian",
    "second custodian": "second_custodian",
    "admin": "admin_user",
    "auditor": "auditor",
    "outsider": "outsider",
}


@pytest.fixture
def failed_request(approved_request):
    """Approved by carol and dave, then failed (the state set as a worker leaves it)."""
    ChangeRequest.objects.filter(pk=approved_request.pk).update(state=State.FAILED)
    approved_request.refresh_from_db()
    return approved_request


@pytest.fixture
def backup_request(inventory, requester, custodian, second_custodian):
    """A key.backup request that succeeded and left its blob for the custodians."""
    change = approve(
        submit(requester, "key.backup", params={"name": "pay-live"}), custodian, second_custodian
    )
    ChangeRequest.objects.filter(pk=change.pk).update(state=State.SUCCEEDED)
    change.refresh_from_db()
    store_backup(change=change, blob=BLOB)
    return change


def _offered_on_request(client, change) -> list[str]:
    # A request the user may not see answers 404 without the field: nothing is offered.
    return client.get(f"/api/v1/requests/{change.pk}/").json().get("allowed_actions", [])


def _offered_to_user(client, _target) -> list[str]:
    return client.get("/api/v1/me/").json()["allowed_actions"]


def _decision(change, user) -> tuple[str, int]:
    change.refresh_from_db()
    return change.state, change.approvals.filter(approver=user).count()


def _state(change, _user) -> str:
    change.refresh_from_db()
    return change.state


def _downloads(change, _user) -> list:
    return list(
        AuditEvent.objects.filter(action="key.backup_downloaded").values_list(
            "actor_label", "after__sha256"
        )
    )


def _rotate_policy(_target, _user) -> list[int]:
    return list(
        ApprovalPolicy.objects.filter(operation="key.rotate").values_list(
            "approvals_required", flat=True
        )
    )


def _verification_runs(_target, _user) -> list[str]:
    return list(VerificationRun.objects.values_list("trigger", flat=True))


@dataclass(frozen=True)
class Case:
    """One action: where it is offered, how it is attempted, what it changes."""

    target: str | None  # the fixture acted on
    offered: Callable[[Any, Any], list[str]]
    attempt: Callable[[Any, Any], Any]
    effect: Callable[[Any, Any], Any]
    done: Callable[[Any, Any], Any]  # the effect once the action succeeded (target, user)
    events: int  # audit events a success writes
    allowed: dict[str, int]  # role → success status; every other role gets its refusal
    refused: dict[str, int]  # role → refusal status (403, or 404 when not even visible)


NOT_VISIBLE = {"other-team requester": 404, "outsider": 404}
ACTIONS = {
    "approve": Case(
        target="pending_request",
        offered=_offered_on_request,
        attempt=lambda client, change: client.post(
            f"/api/v1/requests/{change.pk}/approve/", {"comment": "ok"}, format="json"
        ),
        effect=_decision,
        done=lambda change, user: (State.PENDING, 1),
        events=1,
        allowed={"custodian": 200, "second custodian": 200},
        refused={"requester-owner": 403, "admin": 403, "auditor": 403, **NOT_VISIBLE},
    ),
    "reject": Case(
        target="pending_request",
        offered=_offered_on_request,
        attempt=lambda client, change: client.post(
            f"/api/v1/requests/{change.pk}/reject/", {"comment": "no"}, format="json"
        ),
        effect=_decision,
        done=lambda change, user: (State.REJECTED, 1),
        events=1,
        allowed={"custodian": 200, "second custodian": 200},
        refused={"requester-owner": 403, "admin": 403, "auditor": 403, **NOT_VISIBLE},
    ),
    "cancel": Case(
        target="pending_request",
        offered=_offered_on_request,
        attempt=lambda client, change: client.post(f"/api/v1/requests/{change.pk}/cancel/"),
        effect=_state,
        done=lambda change, user: State.CANCELLED,
        events=1,
        allowed={"requester-owner": 200},
        refused={
            "custodian": 403,
            "second custodian": 403,
            "admin": 403,
            "auditor": 403,
            **NOT_VISIBLE,
        },
    ),
    "retry": Case(
        target="failed_request",
        offered=_offered_on_request,
        attempt=lambda client, change: client.post(f"/api/v1/requests/{change.pk}/retry/"),
        effect=_state,
        done=lambda change, user: State.APPROVED,
        events=2,  # request.retried, request.dispatched
        allowed={"custodian": 200, "second custodian": 200},
        refused={"requester-owner": 403, "admin": 403, "auditor": 403, **NOT_VISIBLE},
    ),
    "download_backup": Case(
        target="backup_request",
        offered=_offered_on_request,
        attempt=lambda client, change: client.get(f"/api/v1/requests/{change.pk}/backup/"),
        effect=_downloads,
        done=lambda change, user: [(user.username, change.backup.sha256)],
        events=1,
        allowed={"custodian": 200, "second custodian": 200},
        refused={"requester-owner": 403, "admin": 403, "auditor": 403, **NOT_VISIBLE},
    ),
    "edit_policy": Case(
        target=None,
        offered=_offered_to_user,
        attempt=lambda client, _: client.patch(
            # 2: a larger quorum needs custodians this matrix does not make (test_quorum)
            "/api/v1/policies/key.rotate/",
            {"approvals_required": 2},
            format="json",
        ),
        effect=_rotate_policy,
        done=lambda _target, _user: [2],
        events=1,
        allowed={"admin": 200},
        refused={role: 403 for role in ROLE_FIXTURES if role != "admin"},
    ),
    "verify_audit": Case(
        target=None,
        offered=_offered_to_user,
        attempt=lambda client, _: client.post("/api/v1/audit/verify/"),
        effect=_verification_runs,  # the run is queued; the worker records its event
        done=lambda _target, _user: ["manual"],
        events=0,
        allowed={"admin": 202, "auditor": 202},
        refused={role: 403 for role in ROLE_FIXTURES if role not in ("admin", "auditor")},
    ),
}
ALLOWED_CELLS = [
    pytest.param(f"{role} {action}s", action, role, status, id=f"{action}-{role}")
    for action, case in ACTIONS.items()
    for role, status in case.allowed.items()
]
REFUSED_CELLS = [
    pytest.param(f"{role} may not {action}", action, role, status, id=f"{action}-{role}")
    for action, case in ACTIONS.items()
    for role, status in case.refused.items()
]


def test_every_action_has_a_cell_for_every_role():
    assert all(
        sorted([*case.allowed, *case.refused]) == sorted(ROLE_FIXTURES) for case in ACTIONS.values()
    )


@pytest.fixture
def attempt(request, payments_team, api_client_for, django_capture_on_commit_callbacks):
    """`attempt(action, role)` → (offered?, response, target, user, effect before, events
    before): reads `allowed_actions` as that user, then really tries the action."""

    def run(action: str, role: str):
        case = ACTIONS[action]
        target = request.getfixturevalue(case.target) if case.target else None
        user = request.getfixturevalue(ROLE_FIXTURES[role])
        client = api_client_for(user)
        before, events_before = case.effect(target, user), AuditEvent.objects.count()
        offered = action in case.offered(client, target)
        with django_capture_on_commit_callbacks():  # recorded, never sent to a worker
            response = case.attempt(client, target)
        return offered, response, target, user, before, events_before

    return run


@pytest.mark.parametrize(("_case", "action", "role", "status"), ALLOWED_CELLS)
def test_offered_action_is_accepted_and_done(_case, action, role, status, attempt):
    # given
    case = ACTIONS[action]

    # when
    offered, response, target, user, _, events_before = attempt(action, role)

    # then
    assert (offered, response.status_code) == (True, status)
    assert case.effect(target, user) == case.done(target, user)
    assert AuditEvent.objects.count() - events_before == case.events


@pytest.mark.parametrize(("_case", "action", "role", "status"), REFUSED_CELLS)
def test_action_not_offered_is_refused_and_changes_nothing(_case, action, role, status, attempt):
    # given
    case = ACTIONS[action]

    # when
    offered, response, target, user, before, events_before = attempt(action, role)

    # then
    assert (offered, response.status_code) == (False, status)
    assert case.effect(target, user) == before
    assert AuditEvent.objects.count() == events_before


def test_allowed_actions_cost_no_query_per_listed_request(
    inventory, requester, custodian, second_custodian, api_client_for
):
    # given
    client = api_client_for(second_custodian)
    ec_key = {"kty": "EC-HSM", "curve": "P-256", "key_ops": ["sign"]}
    for number in range(3):
        approve(submit(requester, params={"name": f"pay-list-{number}", **ec_key}), custodian)
    with CaptureQueriesContext(connection) as few:
        assert client.get("/api/v1/requests/").json()["results"][0]["allowed_actions"] == [
            "approve",
            "reject",
        ]
    for number in range(3, 20):
        approve(submit(requester, params={"name": f"pay-list-{number}", **ec_key}), custodian)

    # when
    with CaptureQueriesContext(connection) as many:
        body = client.get("/api/v1/requests/").json()

    # then
    assert body["count"] == 20
    assert len(many) == len(few)
