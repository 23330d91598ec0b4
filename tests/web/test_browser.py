"""The portal in a real browser: headless Chromium (Debian's) through Playwright against the live
server, a real Celery worker and the HSM emulator. Screenshots of the main pages go to
test-artifacts/screenshots/."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from approvals.models import Approval, ChangeRequest, State
from audit.models import AuditEvent
from tests.web.conftest import PHONE

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
WORKER_TIMEOUT_MS = 60_000


def fill_key_create_form(page, *, name: str, kty: str, curve: str = "", ops=()):
    page.goto("/requests/new/key.create/")
    page.get_by_label("Key name").fill(name)
    page.get_by_label("Key type").select_option(kty)
    if curve:
        page.get_by_label("Curve").select_option(curve)
    for op in ops:
        page.get_by_label(op, exact=True).check()
    page.get_by_label("Justification").fill("Signing key for the checkout service.")


def approve_from_queue(page, change, comment: str) -> None:
    page.goto("/approvals/")
    page.get_by_role("row", name=re.compile(change.key_name)).get_by_role("link").click()
    page.get_by_label("Comment").fill(comment)
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_role("status")).to_contain_text("Approved.")


def test_request_goes_from_form_through_two_approvals_to_the_hsm(
    browsing,
    screenshot,
    requester,
    custodian,
    second_custodian,
    admin_user,
    auditor,
    live_worker,
    hsm,
):
    # given
    alice = browsing.sign_in(requester)
    screenshot(alice, "home-requester")
    fill_key_create_form(
        alice, name="pay-browser", kty="EC-HSM", curve="P-256", ops=("sign", "verify")
    )
    screenshot(alice, "new-request-form")

    # when: preview, then confirm
    alice.get_by_role("button", name="Preview").click()
    expect(alice.locator("#preview-call")).to_contain_text("create_key('pay-browser'")
    expect(alice.locator("#approvals-needed")).to_have_text("2")
    screenshot(alice, "new-request-preview")
    assert ChangeRequest.objects.exists() is False
    alice.get_by_role("button", name="Submit request").click()
    expect(alice.locator("#request-state")).to_have_text("Pending approval")
    expect(alice.get_by_role("button", name="Approve")).to_have_count(0)
    screenshot(alice, "request-detail-pending")
    change = ChangeRequest.objects.get()

    carol = browsing.sign_in(custodian)
    screenshot(carol, "home-custodian")
    carol.goto("/approvals/")
    screenshot(carol, "approval-queue")
    approve_from_queue(carol, change, "Name and type look right.")
    dave = browsing.sign_in(second_custodian)
    approve_from_queue(dave, change, "Agreed.")

    # then: the requester's page follows the worker without a reload
    expect(alice.locator("#request-state")).to_have_text("Succeeded", timeout=WORKER_TIMEOUT_MS)
    expect(alice.locator("#request-result")).to_contain_text('"key": "pay-browser"')
    expect(alice.locator("#live")).to_contain_text("Agreed.")
    expect(alice.get_by_role("button", name="Cancel request")).to_have_count(0)
    screenshot(alice, "request-detail-succeeded")
    assert hsm.operator.get_key("pay-browser").kty == "EC-HSM"
    alice.goto("/keys/")
    expect(alice.get_by_role("link", name="pay-browser")).to_be_visible()
    screenshot(alice, "inventory")
    alice.get_by_role("link", name="pay-browser").click()
    expect(alice.get_by_role("heading", name="Key pay-browser")).to_be_visible()
    expect(alice.get_by_role("link", name="Rotate")).to_be_visible()
    screenshot(alice, "key-detail")

    dave.goto(f"/requests/{change.pk}/")
    expect(dave.locator("#request-state")).to_have_text("Succeeded")
    erin = browsing.sign_in(admin_user)
    screenshot(erin, "home-admin")
    erin.goto("/policies/")
    screenshot(erin, "approval-policies")
    frank = browsing.sign_in(auditor)
    screenshot(frank, "home-auditor")
    frank.goto("/audit/")
    expect(frank.get_by_role("cell", name="Request succeeded request.succeeded")).to_be_visible()
    screenshot(frank, "audit-trail")
    frank.get_by_role("link", name="Chain verification").click()
    frank.get_by_role("button", name="Verify now").click()  # a worker walks it; the page polls
    expect(frank.get_by_role("heading", name="Valid The chain is intact")).to_be_visible(
        timeout=30_000
    )
    screenshot(frank, "audit-verify")
    assert browsing.csp_violations == []


def test_requester_sees_no_approve_button_and_a_forged_approval_is_refused(
    browsing, requester, pending_request
):
    # given
    alice = browsing.sign_in(requester)
    alice.goto(f"/requests/{pending_request.pk}/")
    expect(alice.get_by_role("button", name="Cancel request")).to_be_visible()
    expect(alice.get_by_role("button", name="Approve")).to_have_count(0)
    token = alice.locator("input[name=csrfmiddlewaretoken]").first.input_value()
    events_before = AuditEvent.objects.count()

    # when
    response = alice.request.post(
        f"/requests/{pending_request.pk}/approve/",
        form={"csrfmiddlewaretoken": token, "comment": "my own"},
    )

    # then
    assert response.status == 403
    assert Approval.objects.filter(request=pending_request).exists() is False
    assert AuditEvent.objects.count() == events_before
    pending_request.refresh_from_db()
    assert pending_request.state == State.PENDING


def test_another_team_cannot_open_the_first_teams_key_or_request(
    browsing, other_requester, inventory, pending_request
):
    # given
    bob = browsing.sign_in(other_requester)

    # when
    key_page = bob.goto("/keys/pay-live/")
    request_page = bob.goto(f"/requests/{pending_request.pk}/")

    # then
    assert (key_page.status, request_page.status) == (404, 404)
    expect(bob.get_by_role("heading", name="Not found")).to_be_visible()
    bob.goto("/keys/")
    expect(bob.get_by_role("link", name="idn-key")).to_be_visible()
    expect(bob.get_by_role("link", name="pay-live")).to_have_count(0)


def test_bad_request_form_shows_field_errors_and_creates_nothing(
    browsing, screenshot, requester, payments_team
):
    # given
    alice = browsing.sign_in(requester)
    fill_key_create_form(alice, name="idn-stolen", kty="RSA-HSM", curve="P-256")

    # when
    alice.get_by_role("button", name="Preview").click()

    # then
    expect(alice.locator("#field-name .errorlist")).to_have_text(
        "Team payments may only use keys named pay-*."
    )
    expect(alice.locator("#field-size .errorlist")).to_have_text("This field is required.")
    expect(alice.locator("#field-curve .errorlist")).to_have_text(
        "RSA-HSM keys take a size, not a curve."
    )
    expect(alice.locator("#field-key_ops .errorlist")).to_have_text("This field is required.")
    expect(alice.get_by_label("Key name")).to_have_attribute("aria-invalid", "true")
    expect(alice.get_by_role("alert")).to_contain_text("Please correct the marked fields")
    screenshot(alice, "new-request-errors")
    assert ChangeRequest.objects.exists() is False
    assert browsing.csp_violations == []


def test_inventory_fits_a_phone_screen(browsing, screenshot, requester, inventory):
    # given
    alice = browsing.sign_in(requester, viewport=PHONE)

    # when
    alice.goto("/keys/")

    # then
    expect(alice.get_by_role("link", name="pay-live")).to_be_visible()
    page_width = alice.evaluate("document.documentElement.scrollWidth")
    assert page_width == PHONE["width"]
    screenshot(alice, "inventory-phone")


def test_api_docs_render_under_the_content_security_policy(browsing, screenshot, requester):
    # given
    alice = browsing.sign_in(requester)

    # when
    alice.goto("/api/docs/")

    # then
    expect(alice.locator(".swagger-ui .info .title")).to_contain_text("Keywarden API")
    screenshot(alice, "api-docs")
    assert browsing.csp_violations == []


def test_admin_sync_now_follows_the_worker_on_the_home_page(
    browsing, screenshot, admin_user, payments_team, live_worker, hsm
):
    # given
    hsm.operator.create_key("pay-browser-sync", kty="EC-HSM", curve="P-256")
    erin = browsing.sign_in(admin_user)
    expect(erin.locator("#sync-age")).to_have_text("No inventory sync has run yet.")

    # when
    erin.get_by_role("button", name="Sync now").click()

    # then: the card follows the queued, then finished sync without a reload
    expect(erin.get_by_role("status")).to_contain_text("Inventory sync queued")
    expect(erin.locator("#sync-age")).to_contain_text("ago, succeeded.", timeout=WORKER_TIMEOUT_MS)
    expect(erin.locator("#live")).to_contain_text("(manual)")
    expect(erin.locator("#live")).to_contain_text("1 keys seen")
    expect(erin.get_by_role("button", name="Sync now")).to_be_visible()
    screenshot(erin, "home-admin-synced")
    assert AuditEvent.objects.filter(action="inventory.sync_requested").count() == 1
    assert browsing.csp_violations == []
