"""The custody register in Chromium: a custodian who holds a share confirms possession from the
register page; the admin home shows the custody warnings. Screenshot: custody-register."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from custody.models import PossessionConfirmation
from tests.custody.conftest import fill_register
from tests.support.security_domain import make_holder

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_holder_confirms_possession_on_the_register_page(
    browsing, screenshot, custodian, admin_user
):
    # given: three holders, carol (a custodian) is the first
    fill_register([make_holder(f"browser-{n}") for n in range(3)], users=[custodian])
    carol = browsing.sign_in(custodian)
    # when
    carol.get_by_role("link", name="Custody").click()
    expect(carol.get_by_role("heading", name="Security-domain custody")).to_be_visible()
    carol.get_by_role("button", name="I still hold my token").click()
    # then
    expect(carol.get_by_role("status")).to_contain_text("you confirmed that you still hold")
    expect(carol.get_by_role("row", name="Holder 0")).not_to_contain_text("never")
    assert PossessionConfirmation.objects.filter(confirmed_by=custodian).count() == 1
    screenshot(carol, "custody-register")
    erin = browsing.sign_in(admin_user)
    expect(erin.locator("#custody").locator("..")).to_contain_text(
        "Only 1 of 3 holders confirmed possession"
    )
    assert browsing.csp_violations == []
