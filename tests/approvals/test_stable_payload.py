"""The payload hash names the team and requester by id: renames between submission and
approval (an Entra ID UPN change, a slug edit) leave an honest request executable."""

import pytest

from accounts.models import Team
from approvals.models import ChangeRequest
from approvals.payload import payload_hash_of
from tests.approvals.conftest import approve, submit, wait_for_state

pytestmark = pytest.mark.django_db(transaction=True)
EC_KEY = {"name": "pay-renamed", "kty": "EC-HSM", "curve": "P-256", "key_ops": ["sign", "verify"]}


def test_request_executes_after_requester_and_team_are_renamed(
    requester, payments_team, custodian, second_custodian, live_worker, hsm
):
    # given: a pending request, then the requester's UPN and the team's slug change
    change = submit(requester, "key.create", params=EC_KEY)
    hash_at_submission = change.payload_hash
    requester.username = "alice.renamed@example.com"
    requester.save(update_fields=["username"])
    Team.objects.filter(pk=payments_team.pk).update(slug="payments-eu")
    # when
    approve(change, custodian, second_custodian)
    change = wait_for_state(change, "succeeded", "failed")
    # then
    assert change.state == "succeeded", (change.error, live_worker.log_tail())
    assert change.payload_hash == hash_at_submission
    assert hsm.operator.get_key("pay-renamed").tags["keywarden-request"] == str(change.pk)


def test_a_changed_justification_still_breaks_the_hash(requester, custodian, payments_team):
    # given
    change = submit(requester, "key.create", params=EC_KEY)
    # when
    ChangeRequest.objects.filter(pk=change.pk).update(justification="something else")
    change.refresh_from_db()
    # then
    assert payload_hash_of(change) != change.payload_hash
