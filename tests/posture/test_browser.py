"""The posture page in headless Chromium (Debian's, through Playwright) against the live
server: a custodian sees the findings, starts a check and watches it finish, and accepts a
risk; nothing breaks the CSP. Screenshot in test-artifacts/screenshots/."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from posture.models import Finding
from tests.support.hsm import OUT_OF_BAND_OID
from tests.web.conftest import LAPTOP

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_custodian_checks_the_posture_and_accepts_a_risk(
    browsing,
    screenshot,
    judge,
    live_worker,
    custodian,
):
    judge()
    finding = Finding.objects.get(rule="principal.multiple_roles")
    carol = browsing.sign_in(custodian, viewport=LAPTOP)

    carol.get_by_role("link", name="Posture").click()
    expect(carol.get_by_role("heading", level=1)).to_have_text("HSM posture")
    row = carol.locator(f"#finding-{finding.pk}")
    expect(row).to_contain_text(f"Principal {OUT_OF_BAND_OID} holds 2 roles")
    expect(row.get_by_role("link", name=OUT_OF_BAND_OID)).to_be_visible()
    carol.get_by_role("button", name="Check now").click()
    expect(carol.locator("#check-status")).to_contain_text("Succeeded", timeout=30_000)
    row.get_by_text("Accept risk").click()
    row.get_by_label("Reason").fill("The operator's second role goes with the migration.")
    until = timezone.now() + timedelta(days=30)
    row.get_by_label("Accepted until (UTC)").fill(until.strftime("%Y-%m-%dT%H:%M"))
    row.get_by_role("button", name="Accept").click()

    expect(carol.locator(f"#finding-{finding.pk}")).to_contain_text("Accepted risk")
    expect(carol.locator("#count-accepted")).to_have_text("1")
    screenshot(carol, "posture-custodian")
    finding.refresh_from_db()
    assert finding.accepted_by == custodian
    assert browsing.csp_violations == []
