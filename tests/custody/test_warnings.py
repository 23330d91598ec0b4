"""The register's warnings at a moved `now`: possession confirmations going stale, certificates
near expiry, holders concentrated at one site; the periodic evaluation audits a new one once."""

from __future__ import annotations

import datetime

import pytest
from django.db import transaction
from django.utils import timezone

from audit.actions import Action
from audit.context import AuditContext
from audit.models import AuditEvent
from custody.selectors import register_of
from custody.services import confirm_possession, evaluate_warnings
from custody.warnings import custody_warnings
from tests.custody.conftest import fill_register
from tests.factories import UserFactory

DAY = datetime.timedelta(days=1)
pytestmark = pytest.mark.django_db


def codes(now) -> list[str]:
    return [warning.code for warning in custody_warnings(register_of(), now=now)]


def confirm(holder, user, now):
    with transaction.atomic():
        confirm_possession(holder_id=holder.pk, user=user, now=now, ctx=AuditContext(actor=user))


def test_the_possession_warning_fires_when_confirmations_age_past_the_period(key_holders, settings):
    # given: three holders, quorum 2, all confirm at t0
    settings.CUSTODY_ATTESTATION_DAYS = 90
    users = [UserFactory(username=f"holder{n}") for n in range(3)]
    holders = fill_register(key_holders, users=users)
    t0 = timezone.now()
    assert "possession" in codes(t0)  # nobody has confirmed yet
    for holder, user in zip(holders, users, strict=True):
        confirm(holder, user, t0)
    # then: fine within the period, one holder re-confirming is not enough after it
    assert "possession" not in codes(t0 + 89 * DAY)
    confirm(holders[0], users[0], t0 + 60 * DAY)
    (warning,) = [w for w in custody_warnings(register_of(), now=t0 + 91 * DAY)]
    assert warning.code == "possession"
    assert warning.message == (
        "Only 1 of 3 holders confirmed possession of their token in the last 90 days; at least "
        "3 (the quorum of 2 plus one spare) must, or losing one more token could lose every key."
    )


def test_a_certificate_near_expiry_warns(key_holders, settings):
    settings.CUSTODY_CERT_WARNING_DAYS = 30
    fill_register(key_holders)
    expiry = key_holders[1].certificate.not_valid_after_utc
    before = [c for c in codes(expiry - 31 * DAY) if c.startswith("certificate")]
    near = [c for c in codes(expiry - 29 * DAY) if c.startswith("certificate")]
    assert before == []
    assert sorted(near) == sorted(f"certificate_expiry:{h.thumbprint}" for h in key_holders)


def test_holders_concentrated_at_one_site_warn(key_holders):
    fill_register(key_holders, sites=("Amsterdam", "Amsterdam", "Dublin"))
    warnings = {w.code: w.message for w in custody_warnings(register_of(), now=timezone.now())}
    assert warnings["site_concentration:Amsterdam"] == (
        "2 holders are at Amsterdam, and the quorum is 2: the people of one site alone could "
        "recover the HSM. Keep at most 1 at any one site."
    )
    assert "single_site" not in warnings
    assert "site_concentration:Dublin" not in warnings


def test_holders_at_a_single_site_warn(key_holders):
    fill_register(key_holders, sites=("Dublin", "Dublin", "Dublin"), quorum=3)
    found = sorted(c for c in codes(timezone.now()) if "site" in c)
    assert found == ["single_site", "site_concentration:Dublin"]


def test_the_evaluation_audits_a_new_warning_once(key_holders):
    fill_register(key_holders, sites=("Amsterdam", "Amsterdam", "Dublin"))
    now = timezone.now()
    first = evaluate_warnings(now=now, ctx=AuditContext.scheduler(job="test"))
    second = evaluate_warnings(now=now + DAY, ctx=AuditContext.scheduler(job="test"))
    assert [w.code for w in first] == ["possession", "site_concentration:Amsterdam"]
    assert second == []
    raised = AuditEvent.objects.filter(action=Action.CUSTODY_WARNING_RAISED)
    assert sorted(e.after["code"] for e in raised) == ["possession", "site_concentration:Amsterdam"]
