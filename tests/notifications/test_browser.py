"""The inbox badge in the navigation of a real browser (Chromium), following a request:
submitted → the custodian's count is 1 → approved → the requester's count goes up."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from tests.approvals.conftest import approve, wait_for_state
from tests.notifications.conftest import submit
from tests.web.test_browser import approve_from_queue

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
BADGE = "[data-testid=inbox-unread]"


def badge_after_reloads(page, text: str, timeout: float = 30) -> None:
    """Reload until the navigation's unread badge reads `text` (the worker fills the inbox)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        page.reload()
        badge = page.locator(BADGE)
        if badge.count() and badge.inner_text().endswith(text):
            return
        time.sleep(0.3)
    raise AssertionError(f"badge never read {text!r}: {page.locator('nav').inner_text()}")


def test_the_inbox_count_follows_a_request(
    browsing, screenshot, requester, custodian, second_custodian, live_worker, hsm
):
    # given
    alice, carol = browsing.sign_in(requester), browsing.sign_in(custodian)
    expect(alice.locator(BADGE)).to_have_count(0)
    expect(carol.locator(BADGE)).to_have_count(0)
    # when: alice's request waits for the custodians
    change = approve(submit(requester), second_custodian)
    # then
    badge_after_reloads(carol, "1")
    screenshot(carol, "inbox-badge-custodian")
    # when: carol's approval completes it and the worker carries it out
    approve_from_queue(carol, change, "Looks right.")
    wait_for_state(change, "succeeded")
    # then: alice hears "Approved" and "Succeeded"
    badge_after_reloads(alice, "2")
    alice.get_by_role("link", name="Inbox").click()
    expect(alice.locator("tr.unread")).to_have_count(2)
    screenshot(alice, "inbox-requester")
    alice.get_by_role("button", name="Mark all read").click()
    expect(alice.get_by_role("status")).to_contain_text("Marked 2 item(s) read.")
    expect(alice.locator(BADGE)).to_have_count(0)
