"""Register changes through dual approval: the quorum refusals, holders from uploaded
certificates (thumbprint and expiry read by the portal), and who may approve a ceremony."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from approvals.models import ChangeRequest, State
from approvals.permissions import can_decide
from audit.actions import Action
from audit.models import AuditEvent
from core.errors import Invalid
from custody.certificates import read_certificate
from custody.models import Holder, SecurityDomain
from custody.selectors import active_holders, register_of
from tests.approvals.conftest import approve, submit, wait_for_state
from tests.custody.conftest import fill_register, pem_of


def refused(user, operation, params, team="hsm-platform") -> dict:
    with pytest.raises(Invalid) as caught:
        submit(user, operation, team=team, params=params)
    return caught.value.errors


def test_a_quorum_larger_than_the_holders_is_refused(platform_requester, key_holders):
    # given
    fill_register(key_holders[:2], sites=("Amsterdam", "Dublin"), quorum=None)
    events_before = AuditEvent.objects.count()
    # when
    errors = refused(platform_requester, "custody.set_quorum", {"quorum": 3})
    # then
    assert errors == {
        "params.quorum": [
            "A quorum of 3 is larger than the 2 holder(s) in the register: the security domain "
            "could never be recovered. Add holders first, or lower the quorum."
        ]
    }
    assert ChangeRequest.objects.exists() is False
    assert AuditEvent.objects.count() == events_before
    assert register_of().quorum is None


def test_a_quorum_of_one_is_refused(platform_requester, key_holders):
    fill_register(key_holders, quorum=None)
    errors = refused(platform_requester, "custody.set_quorum", {"quorum": 1})
    assert errors == {
        "params.quorum": [
            "The quorum must be at least 2: with fewer, one holder alone could recover every "
            "key in the HSM."
        ]
    }


def test_removing_a_holder_below_the_quorum_is_refused(platform_requester, key_holders):
    holders = fill_register(key_holders[:2], sites=("Amsterdam", "Dublin"), quorum=2)
    errors = refused(
        platform_requester, "custody.remove_holder", {"thumbprint": holders[0].thumbprint}
    )
    assert errors == {
        "params.thumbprint": [
            "Removing Holder 0 is refused: A quorum of 2 is larger than the 1 holder(s) in the "
            "register: the security domain could never be recovered. Add holders first, or "
            "lower the quorum."
        ]
    }


def test_register_changes_are_asked_for_by_the_custody_team_only(requester, key_holders):
    fill_register(key_holders, quorum=None)
    errors = refused(requester, "custody.set_quorum", {"quorum": 2}, team="payments")
    assert errors == {"team": ["Custody changes are asked for by team hsm-platform, not payments."]}


def test_a_certificate_that_is_not_pem_is_refused(platform_requester):
    params = {
        "person": "Ines",
        "token_type": "fips_token",
        "site": "Amsterdam",
        "certificate_pem": "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----",
    }
    errors = refused(platform_requester, "custody.add_holder", params)
    assert errors == {
        "params.certificate_pem": ["Not a PEM certificate (-----BEGIN CERTIFICATE----- …)."]
    }
    assert SecurityDomain.objects.exists() is False


def test_the_portal_computes_thumbprint_and_expiry_from_the_certificate(
    platform_requester, key_holders
):
    # when
    change = submit(
        platform_requester,
        "custody.add_holder",
        team="hsm-platform",
        params={
            "person": "Ines Ortega",
            "token_type": "smart_card",
            "site": "Amsterdam",
            "certificate_pem": pem_of(key_holders[0]),
        },
    )
    # then
    assert change.params["thumbprint"] == key_holders[0].thumbprint
    assert change.params["certificate_expires_at"] == (
        key_holders[0].certificate.not_valid_after_utc.isoformat()
    )
    assert change.key_name == "(security domain)"
    assert change.approvals_required == 2


@pytest.mark.django_db(transaction=True)
def test_a_holder_is_added_only_after_two_custodians_approve(
    platform_requester, custodian, second_custodian, key_holders, live_worker
):
    # given
    change = submit(
        platform_requester,
        "custody.add_holder",
        team="hsm-platform",
        params={
            "person": "Ines Ortega",
            "user": custodian.username,
            "token_type": "fips_token",
            "site": "Amsterdam",
            "certificate_pem": pem_of(key_holders[0]),
        },
    )
    # when one custodian approves
    change = approve(change, custodian)
    # then nothing changes yet
    assert change.state == State.PENDING
    assert Holder.objects.exists() is False
    # when a second one does, the worker applies it
    approve(change, second_custodian)
    change = wait_for_state(change, State.SUCCEEDED, State.FAILED)
    # then
    assert change.state == State.SUCCEEDED
    (holder,) = active_holders(register_of())
    assert (holder.person, holder.user, holder.site, holder.thumbprint) == (
        "Ines Ortega",
        custodian,
        "Amsterdam",
        key_holders[0].thumbprint,
    )
    event = AuditEvent.objects.get(action=Action.CUSTODY_HOLDER_ADDED)
    assert event.after["thumbprint"] == key_holders[0].thumbprint
    assert event.after["request"] == str(change.pk)


def test_a_custodian_who_holds_a_share_may_not_approve_the_download(
    platform_requester, custodian, second_custodian, key_holders, settings, tmp_path
):
    # given: the custodian carol is one of the holders
    settings.CUSTODY_SECURITY_DOMAIN_DIR = str(tmp_path)
    fill_register(key_holders, users=[custodian])
    change = submit(
        platform_requester,
        "hsm.security_domain.download",
        team="hsm-platform",
        params={"witnesses": ["Wendy Witness"]},
    )
    now = timezone.now()
    # when / then
    decision = can_decide(custodian, change, now=now)
    assert decision.reason == (
        "Key holders may not approve a security-domain ceremony: approvals must come from "
        "custodians who hold no share (separation of duties)."
    )
    assert bool(can_decide(second_custodian, change, now=now)) is True
    assert [c["thumbprint"] for c in change.params["certificates"]] == [
        h.thumbprint for h in key_holders
    ]
    assert change.params["quorum"] == 2


def test_the_download_is_refused_with_too_few_holders_or_no_quorum(
    platform_requester, key_holders, settings, tmp_path
):
    settings.CUSTODY_SECURITY_DOMAIN_DIR = str(tmp_path)
    fill_register(key_holders[:2], sites=("Amsterdam", "Dublin"), quorum=None)
    errors = refused(platform_requester, "hsm.security_domain.download", {})
    assert errors == {
        "params.certificates": [
            "Activation needs at least 3 holders in the register; it has 2.",
            "Set the quorum (custody.set_quorum) before the ceremony.",
        ]
    }


def test_an_expired_certificate_is_refused(key_holders):
    expiry = key_holders[0].certificate.not_valid_after_utc
    with pytest.raises(Invalid) as caught:
        read_certificate(
            pem_of(key_holders[0]), field="certificate_pem", now=expiry + datetime.timedelta(days=1)
        )
    assert caught.value.errors == {
        "certificate_pem": [f"The certificate expired on {expiry:%Y-%m-%d}."]
    }
