"""Bulk requests (ROTATION.md §3): one approval sets the same rotation policy or schedule on up
to 500 keys of one team; execution goes key by key, one failing key undoes nothing, and a
retry re-runs only the failed keys. Real worker, the emulator through the SDK, PostgreSQL."""

from __future__ import annotations

import pytest
from django.utils import timezone

from approvals import services
from approvals.models import ChangeRequest
from audit.context import AuditContext
from core.errors import Conflict, Invalid
from keys.gateway import LifetimeAction
from keys.models import ManagedKey, RotationSchedule
from keys.services.inventory import record_key_applied
from tests.approvals.conftest import approve, submit, wait_for_state
from tests.factories import ManagedKeyFactory

POLICY = {
    "lifetime_actions": [{"action": "Rotate", "time_after_create": "P90D"}],
    "expiry_time": "P1Y",
}
NAMES = ["pay-bulk-a", "pay-bulk-b", "pay-bulk-c"]


def refused(requester, params, operation="key.set_rotation_policy") -> dict:
    with pytest.raises(Invalid) as caught:
        submit(requester, operation, params=params)
    assert ChangeRequest.objects.exists() is False
    return caught.value.errors


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("_case", "params", "expected"),
    [
        ("501 keys", {"targets": [f"pay-k{n}" for n in range(501)]},
         {"params.targets": ["Ensure this field has no more than 500 elements."]}),
        ("a repeated key", {"targets": ["pay-live", "pay-live"]},
         {"params.targets": ["Keys must not repeat."]}),
        ("no keys", {"targets": []},
         {"params.targets": ["Ensure this field has at least 1 elements."]}),
        ("name and targets", {"name": "pay-live", "targets": ["pay-rsa"]},
         {"params.name": ["Give either name (one key) or targets (up to 500 keys)."]}),
        ("neither", {},
         {"params.name": ["Give either name (one key) or targets (up to 500 keys)."]}),
        ("another team's keys", {"targets": ["pay-live", "idn-key"]},
         {"params.targets": ["Team payments may only use keys named pay-*: idn-key."]}),
        ("unknown and deleted keys", {"targets": ["pay-live", "pay-nosuch", "pay-deleted"]},
         {"params.targets": ["Not in the HSM inventory: pay-nosuch.",
                             "Deleted (recover first): pay-deleted."]}),
    ],
)  # fmt: skip
def test_bulk_refusals(_case, params, expected, requester, inventory):
    assert refused(requester, {**POLICY, **params}) == expected


@pytest.mark.django_db
def test_one_open_request_per_key_holds_across_bulk_requests(requester, inventory):
    # given: a bulk request on two keys
    bulk = submit(
        requester, "key.set_rotation_policy", params={**POLICY, "targets": ["pay-live", "pay-rsa"]}
    )
    assert bulk.key_name == "pay-live +1 more"
    # then: neither key takes another request, alone or in another bulk request
    with pytest.raises(Conflict, match="pay-rsa is still open"):
        submit(requester, "key.rotate", params={"name": "pay-rsa"})
    with pytest.raises(Conflict, match="pay-rsa is still open"):
        submit(requester, "key.set_rotation_policy", params={**POLICY, "targets": ["pay-rsa"]})
    # and a bulk request cannot include a key another request holds
    services.cancel_request(
        request_id=bulk.pk, requester=requester, ctx=AuditContext(actor=requester)
    )
    submit(requester, "key.rotate", params={"name": "pay-rsa"})
    with pytest.raises(Conflict, match="pay-rsa is still open"):
        submit(
            requester,
            "key.set_rotation_policy",
            params={**POLICY, "targets": ["pay-live", "pay-rsa"]},
        )


@pytest.mark.django_db
def test_bulk_preview_names_the_keys_and_the_call(requester, inventory):
    names = [f"pay-p{n}" for n in range(7)]
    for name in names:
        ManagedKeyFactory(name=name, team=inventory["pay-live"].team)
    draft = services.draft_request(
        requester=requester,
        operation="key.set_rotation_policy",
        team="payments",
        justification="All payment keys rotate quarterly.",
        params={**POLICY, "targets": names},
    )
    assert draft.preview.startswith(
        "For each of 7 keys (pay-p0, pay-p1, pay-p2, pay-p3, pay-p4 and 2 more), as for pay-p0: "
        "set_rotation_policy('pay-p0'"
    )


@pytest.fixture
def keys(hsm, payments_team):
    for name in NAMES:
        record_key_applied(
            key=hsm.keywarden.create_key(name, kty="EC-HSM", curve="P-256"), now=timezone.now()
        )


def policy_in_hsm(hsm, name: str) -> list[tuple]:
    return [
        (a.action.lower(), a.time_after_create)
        for a in hsm.operator.get_rotation_policy(name).lifetime_actions
    ]


@pytest.mark.django_db(transaction=True)
def test_one_failing_key_undoes_nothing_and_a_retry_reruns_only_it(
    requester, custodian, second_custodian, live_worker, hsm, keys
):
    # given: a bulk policy request on three keys, one of which an operator deleted in the HSM
    hsm.operator.delete_key("pay-bulk-b")
    change = submit(requester, "key.set_rotation_policy", params={**POLICY, "targets": NAMES})
    # when
    change = wait_for_state(approve(change, custodian, second_custodian), "succeeded", "failed")
    # then: failed as a whole, with the two others done and recorded
    assert change.state == "failed", live_worker.log_tail()
    assert change.error["error"] == "PartialFailure"
    assert change.error["message"] == (
        "1 of 3 keys failed; the others are done. A retry re-runs only the failed keys."
    )
    assert list(change.error["failed"]) == ["pay-bulk-b"]
    assert change.result["succeeded"] == ["pay-bulk-a", "pay-bulk-c"]
    for name in ("pay-bulk-a", "pay-bulk-c"):
        assert policy_in_hsm(hsm, name) == [("rotate", "P90D")]
        assert ManagedKey.objects.get(name=name).rotation_policy == POLICY
    # when: the key comes back, someone changes a done key's policy in the HSM, and a
    # custodian retries
    hsm.operator.recover_key("pay-bulk-b")
    hsm.operator.set_rotation_policy(
        "pay-bulk-a", expires_in="P1Y", lifetime_actions=[LifetimeAction("Rotate", "P30D")]
    )
    services.retry_request(
        request_id=change.pk, custodian=custodian, ctx=AuditContext(actor=custodian)
    )
    change = wait_for_state(change, "succeeded", "failed")
    # then: only the failed key was run again (the done key keeps the HSM's own change)
    assert change.state == "succeeded", (change.error, live_worker.log_tail())
    assert change.result == {"targets": 3, "succeeded": NAMES, "failed": {}}
    assert policy_in_hsm(hsm, "pay-bulk-b") == [("rotate", "P90D")]
    assert policy_in_hsm(hsm, "pay-bulk-a") == [("rotate", "P30D")]
    last = change.executions.order_by("attempt").last()
    assert (last.attempt, last.checkpoint["bulk_done"]) == (
        2,
        ["pay-bulk-a", "pay-bulk-c", "pay-bulk-b"],
    )


@pytest.mark.django_db(transaction=True)
def test_bulk_schedule_gives_each_key_a_schedule_under_one_approval(
    requester, custodian, second_custodian, live_worker, hsm, keys
):
    change = submit(
        requester,
        "key.set_rotation_schedule",
        params={"targets": NAMES, "cadence": "P30D", "mode": "standing"},
    )
    change = wait_for_state(approve(change, custodian, second_custodian), "succeeded", "failed")
    assert change.state == "succeeded", (change.error, live_worker.log_tail())
    schedules = RotationSchedule.objects.order_by("key__name")
    assert [(s.key.name, s.approved_by, s.cadence) for s in schedules] == [
        (name, change.pk, "P30D") for name in NAMES
    ]
