"""In Chromium: the diff of a key update on the preview and the approval page (with the key
changed since submission), and adopting a key made outside Keywarden, end to end through dual
approval, a real worker and the emulator. Screenshots go to test-artifacts/screenshots/."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from approvals.models import ChangeRequest
from audit.context import AuditContext
from keys.models import ManagedKey
from keys.services.sync import sync_inventory
from tests.factories import ManagedKeyFactory
from tests.web.test_browser import WORKER_TIMEOUT_MS, approve_from_queue

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_update_shows_current_to_requested_on_preview_and_approval_page(
    browsing, screenshot, requester, custodian, payments_team
):
    # given: a live key of the team
    ManagedKeyFactory(name="pay-diff", team=payments_team, tags={"owner": "checkout"})
    alice = browsing.sign_in(requester)
    alice.goto("/keys/pay-diff/")
    alice.get_by_role("link", name="Update properties").click()
    # the form starts from what is
    expect(alice.get_by_label("Enabled")).to_have_value("true")
    expect(alice.get_by_label("Tags")).to_have_value("owner=checkout")
    expect(alice.get_by_label("sign", exact=True)).to_be_checked()

    # when: one field changed, previewed
    alice.get_by_label("Enabled").select_option("false")
    alice.get_by_label("Justification").fill("Retired with the old checkout.")
    alice.get_by_role("button", name="Preview").click()

    # then: one changed row, the rest folded away
    changed = alice.locator("#changed-fields tbody tr")
    expect(changed).to_have_count(1)
    expect(changed).to_have_text(re.compile(r"Enabled\s*yes\s*no"))
    expect(alice.locator("#unchanged-fields")).not_to_be_visible()
    alice.get_by_text("Unchanged fields").click()
    expect(alice.locator("#unchanged-fields tr[data-field=tags]")).to_contain_text("owner=checkout")
    screenshot(alice, "update-diff-preview")
    alice.get_by_role("button", name="Submit request").click()
    expect(alice.locator("#request-state")).to_have_text("Pending approval")
    change = ChangeRequest.objects.get()
    assert change.params == {"name": "pay-diff", "enabled": False}

    # and: the key changes before a custodian looks
    ManagedKey.objects.filter(name="pay-diff").update(tags={"owner": "someone-else"})
    carol = browsing.sign_in(custodian)
    carol.goto(f"/requests/{change.pk}/")
    expect(carol.locator("#changed-fields tbody tr")).to_have_text(
        re.compile(r"Enabled\s*yes\s*no")
    )
    expect(carol.locator("#changed-since")).to_contain_text(
        "The key changed since this request was submitted: Tags now differs"
    )
    screenshot(carol, "update-diff-approval")
    assert browsing.csp_violations == []


def test_adopting_a_key_made_outside_keywarden(
    browsing, screenshot, requester, custodian, second_custodian, payments_team, live_worker, hsm
):
    # given: a key made directly in the HSM, found by the sync
    hsm.operator.create_key("pay-found", kty="EC-HSM", curve="P-256", tags={"owner": "ops"})
    sync_inventory(ctx=AuditContext.system("test"))
    alice = browsing.sign_in(requester)
    alice.goto("/keys/pay-found/")
    expect(alice.locator("#adopt")).to_contain_text("Made outside Keywarden")
    screenshot(alice, "adopt-key-page")

    # when: adoption asked for, approved twice
    alice.get_by_role("link", name="Adopt").click()
    expect(alice.get_by_label("Key name")).to_have_value("pay-found")
    alice.get_by_label("Rotation class").fill("active")
    alice.get_by_label("Justification").fill("The checkout team owns this key.")
    alice.get_by_role("button", name="Preview").click()
    expect(alice.locator("#changed-fields tbody tr")).to_have_text(
        [
            re.compile(r"Managed by Keywarden\s*no\s*yes"),
            re.compile(r"Rotation class\s*standard\s*active"),
        ]
    )
    screenshot(alice, "adopt-preview")
    alice.get_by_role("button", name="Submit request").click()
    expect(alice.locator("#request-state")).to_have_text("Pending approval")
    change = ChangeRequest.objects.get()
    approve_from_queue(browsing.sign_in(custodian), change, "Known key of checkout.")
    approve_from_queue(browsing.sign_in(second_custodian), change, "Agreed.")

    # then
    expect(alice.locator("#request-state")).to_have_text("Succeeded", timeout=WORKER_TIMEOUT_MS)
    screenshot(alice, "adopt-succeeded")
    alice.goto("/keys/pay-found/")
    expect(alice.locator("#adopt")).to_have_count(0)
    expect(alice.get_by_text("made outside Keywarden")).to_have_count(0)
    assert hsm.operator.get_key("pay-found").tags == {"owner": "ops", "keywarden-class": "active"}
    assert browsing.csp_violations == []
