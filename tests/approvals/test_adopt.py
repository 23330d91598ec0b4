"""key.adopt: who may ask, what is refused, and the whole path through dual approval, a real
worker and the emulator — after which drift detection starts from the adopted state."""

from __future__ import annotations

import pytest

from approvals.models import ChangeRequest
from audit.context import AuditContext
from audit.models import AuditEvent
from keys.models import ManagedKey
from keys.services.sync import sync_inventory
from tests.approvals.conftest import approve, submit, wait_for_state
from tests.factories import ManagedKeyFactory, UserFactory

ADOPT = {"name": "pay-found", "rotation_class": "active"}


@pytest.fixture
def found_key(payments_team):
    """An unmanaged key as the sync leaves it: team by prefix, no baseline."""
    return ManagedKeyFactory(name="pay-found", team=payments_team, last_applied=None, tags={})


@pytest.mark.parametrize(
    ("_case", "who", "status", "message"),
    [
        ("team member", "requester", 201, None),
        ("admin, of no team", "admin_user", 201, None),
        (
            "member of another team",
            "other_requester",
            403,
            "Only admins and members of team payments adopt keys for it.",
        ),
        (
            "custodian",
            "custodian",
            403,
            "Only admins and members of team payments adopt keys for it.",
        ),
        (
            "auditor",
            "auditor",
            403,
            "Only admins and members of team payments adopt keys for it.",
        ),
    ],
)
def test_who_may_ask_to_adopt(
    _case, who, status, message, request, found_key, identity_team, api_client_for
):
    # given
    user = request.getfixturevalue(who)
    events_before = AuditEvent.objects.count()
    # when
    response = api_client_for(user).post(
        "/api/v1/requests/",
        {"operation": "key.adopt", "team": "payments", "justification": "ours", "params": ADOPT},
        format="json",
    )
    # then
    assert response.status_code == status, response.content
    opened = ChangeRequest.objects.filter(operation="key.adopt").count()
    assert opened == (1 if status == 201 else 0)
    assert response.json().get("detail") == message
    assert AuditEvent.objects.count() == events_before + (1 if status == 201 else 0)


def test_admin_may_not_ask_for_other_operations(admin_user, found_key, api_client_for):
    response = api_client_for(admin_user).post(
        "/api/v1/requests/",
        {
            "operation": "key.rotate",
            "team": "payments",
            "justification": "x",
            "params": {"name": "pay-found"},
        },
        format="json",
    )
    assert (response.status_code, response.json()["detail"]) == (
        403,
        "You are not a member of team payments.",
    )
    assert ChangeRequest.objects.exists() is False


@pytest.mark.parametrize(
    ("_case", "params", "errors"),
    [
        (
            "already managed",
            {"name": "pay-managed", "rotation_class": "standard"},
            {"params.name": ["Key pay-managed is already managed by Keywarden."]},
        ),
        (
            "not in the inventory",
            {"name": "pay-nowhere", "rotation_class": "standard"},
            {"params.name": ["No key named pay-nowhere in the HSM inventory."]},
        ),
        (
            "deleted",
            {"name": "pay-gone", "rotation_class": "standard"},
            {"params.name": ["Key pay-gone is deleted; recover it first."]},
        ),
        (
            "another team's prefix",
            {"name": "idn-found", "rotation_class": "standard"},
            {"params.name": ["Team payments may only use keys named pay-*."]},
        ),
        (
            "unknown class and no class",
            {"name": "pay-found", "rotation_class": "hourly"},
            {"params.rotation_class": ["No rotation class 'hourly'. Known: active, standard."]},
        ),
        (
            "class missing",
            {"name": "pay-found"},
            {"params.rotation_class": ["This field is required."]},
        ),
    ],
)
def test_bad_adoptions_are_refused_naming_the_rule(
    _case, params, errors, found_key, payments_team, requester, api_client_for
):
    # given
    ManagedKeyFactory(name="pay-managed", team=payments_team)
    ManagedKeyFactory(name="pay-gone", team=payments_team, last_applied=None, state="deleted")
    ManagedKeyFactory(name="idn-found", last_applied=None)
    # when
    response = api_client_for(requester).post(
        "/api/v1/requests/",
        {"operation": "key.adopt", "team": "payments", "justification": "ours", "params": params},
        format="json",
    )
    # then
    assert response.status_code == 400
    assert response.json()["errors"] == errors
    assert ChangeRequest.objects.exists() is False
    assert AuditEvent.objects.exists() is False


@pytest.mark.django_db(transaction=True)
def test_adopt_through_dual_approval_makes_the_hsm_state_the_drift_baseline(
    hsm, live_worker, payments_team, requester, custodian, second_custodian
):
    # given: a key made out of band in the HSM, found by the sync
    ctx = AuditContext.system("test")
    hsm.operator.create_key(
        "pay-found", kty="EC-HSM", curve="P-256", key_ops=["sign"], tags={"owner": "ops"}
    )
    sync_inventory(ctx=ctx)
    found = ManagedKey.objects.get(name="pay-found")
    assert (found.is_managed, found.has_drift, found.rotation_class) == (False, True, "standard")
    # when
    change = submit(requester, "key.adopt", params=ADOPT)
    approve(change, custodian, second_custodian)
    change = wait_for_state(change, "succeeded", "failed")
    # then: tagged with its class in the HSM, managed, and judged by that class
    assert change.state == "succeeded", (change.error, live_worker.log_tail())
    assert change.result["team"] == "payments"
    in_hsm = hsm.operator.get_key("pay-found")
    assert in_hsm.tags == {"owner": "ops", "keywarden-class": "active"}
    adopted = ManagedKey.objects.get(name="pay-found")
    assert (adopted.is_managed, adopted.has_drift, adopted.rotation_class) == (
        True,
        False,
        "active",
    )
    assert adopted.last_applied == change.result["baseline"]
    assert adopted.last_applied["tags"] == {"keywarden-class": "active", "owner": "ops"}
    # and: the next sync finds no drift; an out-of-band change then is drift
    sync_inventory(ctx=ctx, full=True)
    assert ManagedKey.objects.get(name="pay-found").drift_reasons == []
    hsm.operator.update_key("pay-found", enabled=False)
    sync_inventory(ctx=ctx)
    assert ManagedKey.objects.get(name="pay-found").drift_reasons == [
        "enabled changed outside Keywarden: True → False."
    ]


@pytest.mark.django_db(transaction=True)
def test_adoption_fails_when_the_tags_changed_in_the_hsm_since_submission(
    hsm, live_worker, payments_team, requester, custodian, second_custodian
):
    # given: a submitted adoption, then someone retags the key in the HSM
    hsm.operator.create_key("pay-found", kty="EC-HSM", curve="P-256", tags={"owner": "ops"})
    sync_inventory(ctx=AuditContext.system("test"))
    change = submit(requester, "key.adopt", params=ADOPT)
    hsm.operator.update_key("pay-found", tags={"owner": "someone"})
    # when
    approve(change, custodian, second_custodian)
    change = wait_for_state(change, "succeeded", "failed")
    # then
    assert change.state == "failed"
    assert change.error["message"] == (
        "The tags of pay-found changed in the HSM since this request was submitted "
        "(now {'owner': 'someone'}); submit the adoption again."
    )
    assert hsm.operator.get_key("pay-found").tags == {"owner": "someone"}
    assert ManagedKey.objects.get(name="pay-found").is_managed is False


def test_a_user_without_roles_cannot_submit(found_key, api_client_for):
    nobody = UserFactory(username="nobody")
    response = api_client_for(nobody).post(
        "/api/v1/requests/",
        {"operation": "key.adopt", "team": "payments", "justification": "x", "params": ADOPT},
        format="json",
    )
    assert response.status_code == 403
    assert ChangeRequest.objects.exists() is False
