"""The role-assignment pickers in Chromium (issue 17): alice registers her app's service
principal in the team's directory, then picks the key and the principal on the role.assign
form from the browser's suggestions, and the preview names the principal."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
CHECKOUT = "0c0c0c0c-0000-4000-8000-0000000000c1"


def suggestions(page, label: str) -> list[list[str]]:
    """The (value, label) pairs of the <datalist> the browser links to the input."""
    return page.get_by_label(label).evaluate(
        "input => [...input.list.options].map(option => [option.value, option.label])"
    )


def test_role_assignment_pickers(browsing, screenshot, requester, inventory):
    # given: alice registers the checkout service in the directory
    alice = browsing.sign_in(requester)
    alice.goto("/teams/payments/principals/")
    alice.get_by_label("Object id").fill(CHECKOUT)
    alice.get_by_label("Display name").fill("checkout-service")
    alice.get_by_label("Principal type").select_option("ServicePrincipal")
    alice.get_by_label("Description").fill("The checkout app's managed identity")
    alice.get_by_role("button", name="Save").click()
    expect(alice.locator(f"#principal-{CHECKOUT}")).to_contain_text("checkout-service")
    screenshot(alice, "principal-directory")

    # when: the role.assign form, filled from its suggestions
    alice.goto("/requests/new/role.assign/")
    keys = suggestions(alice, "Scope")
    principals = suggestions(alice, "Principal object id")
    alice.get_by_label("Role").select_option("Managed HSM Crypto User")
    alice.get_by_label("Scope").fill(keys[2][0])
    alice.get_by_label("Principal object id").fill(principals[0][0])
    alice.get_by_label("Principal type").select_option("ServicePrincipal")
    alice.get_by_label("Justification").fill("Checkout service signs with it.")
    screenshot(alice, "role-assign-pickers")
    alice.get_by_role("button", name="Preview").click()

    # then
    assert keys == [
        ["/keys/pay-kek", "pay-kek (payments)"],
        ["/keys/pay-live", "pay-live (payments)"],
        ["/keys/pay-rsa", "pay-rsa (payments)"],
    ]
    assert principals == [[CHECKOUT, "checkout-service · Service principal · payments"]]
    expect(alice.locator("#principal")).to_have_text(f"checkout-service {CHECKOUT}")
    expect(alice.locator("#preview-call")).to_contain_text("scope='/keys/pay-rsa'")
    expect(alice.locator("#principal-warning")).to_have_count(0)
    screenshot(alice, "role-assign-preview")
    assert browsing.csp_violations == []
