"""The rotation dashboard in headless Chromium (Debian's, through Playwright) against the live
server: charts are visible SVG beside their tables, the tiles' links land on inventories of
exactly the counted keys, nothing breaks the CSP, and the page fits a 390 px phone.
Screenshots go to test-artifacts/screenshots/."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from playwright.sync_api import expect

from keys.services.snapshots import snapshot_compliance
from tests.reports.conftest import NOW
from tests.web.conftest import LAPTOP, PHONE

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
DASHBOARD = f"/rotation/?{urlencode({'now': NOW.isoformat()})}"


def listed_keys(page) -> int:
    return page.locator("main table tbody tr").count()


def follow_tile(page, name: str) -> tuple[int, int]:
    """(the tile's number, the rows of the inventory its link opens)."""
    page.goto(DASHBOARD)
    tile = page.locator(f"li.tile-{name} a")
    counted = int(tile.locator(".tile-value").inner_text())
    tile.click()
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    return counted, listed_keys(page)


def test_admin_sees_the_charts_with_their_tables_and_tiles_that_lead_to_their_keys(
    browsing, screenshot, seeded_inventory, admin_user
):
    # given
    snapshot_compliance(now=NOW)
    erin = browsing.sign_in(admin_user, viewport=LAPTOP)
    # when
    erin.goto(DASHBOARD)
    # then
    charts = erin.locator("svg.chart")
    expect(charts).to_have_count(3)
    for index in range(3):
        expect(charts.nth(index)).to_be_visible()
    expect(erin.locator("#age-table")).to_be_visible()
    expect(erin.locator("#team-table")).to_be_visible()
    expect(erin.locator("li.tile-overdue .tile-value")).to_have_text("9")
    screenshot(erin, "rotation-dashboard-admin")
    for name in ("overdue", "due_30_days", "expiring_30_days", "no_mechanism", "unmanaged"):
        counted, listed = follow_tile(erin, name)
        assert (name, listed) == (name, counted)
    assert browsing.csp_violations == []


def test_requester_dashboard_fits_a_phone_and_its_tiles_list_their_keys(
    browsing, screenshot, seeded_inventory, requester
):
    # given
    alice = browsing.sign_in(requester, viewport=PHONE)
    # when
    alice.goto(DASHBOARD)
    # then
    expect(alice.locator("li.tile-keys .tile-value")).to_have_text("15")
    expect(alice.locator("svg.chart").first).to_be_visible()
    expect(alice.locator("#team-table")).to_contain_text("Payments")
    assert alice.evaluate("document.documentElement.scrollWidth") == PHONE["width"]
    screenshot(alice, "rotation-dashboard-requester-phone")
    for name in ("keys", "overdue", "due_30_days", "no_mechanism", "drift", "unmanaged"):
        counted, listed = follow_tile(alice, name)
        assert (name, listed) == (name, counted)
    assert browsing.csp_violations == []
