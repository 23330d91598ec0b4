"""The demo's own people finish a purge: its seeded policy needs three approvals and the demo
has three custodians (issue 17)."""

from __future__ import annotations

import pytest

from approvals.selectors import quorum_warning
from approvals.services import policy_for
from keys.gateway import HsmNotFound
from keys.models import ManagedKey
from portal.demo import seed_demo
from tests.approvals.conftest import approve, submit, wait_for_state

pytestmark = pytest.mark.django_db(transaction=True)
NAME = "pay-demo-purge"


def test_the_demos_custodians_complete_a_purge(live_worker, hsm):
    # given: the demo's users, and a key alice made and deleted through the portal
    users = {user.username: user for user in seed_demo(password="pw-one-two-three")}
    alice, custodians = users["alice"], [users[name] for name in ("carol", "dave", "grace")]
    key = {"name": NAME, "kty": "EC-HSM", "curve": "P-256", "key_ops": ["sign", "verify"]}
    for operation, params in (("key.create", key), ("key.delete", {"name": NAME})):
        change = approve(submit(alice, operation, params=params), *custodians[:2])
        assert wait_for_state(change, "succeeded", "failed").state == "succeeded"

    # when: the purge, under the seeded policy, approved by the three custodians
    purge = submit(alice, "key.purge", params={"name": NAME})
    assert (purge.approvals_required, policy_for("key.purge").approvals_required) == (3, 3)
    assert quorum_warning(purge) == ""
    approve(purge, *custodians)
    purge = wait_for_state(purge, "succeeded", "failed")

    # then: a worker purged it in the emulator
    assert purge.state == "succeeded", (purge.error, live_worker.log_tail())
    assert sorted(vote.approver.username for vote in purge.approvals.all()) == [
        "carol",
        "dave",
        "grace",
    ]
    with pytest.raises(HsmNotFound):
        hsm.operator.get_deleted_key(NAME)
    assert ManagedKey.objects.get(name=NAME).state == "purged"
