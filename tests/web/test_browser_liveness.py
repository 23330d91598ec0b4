"""The admin home's "Workers and beat" card in Chromium: a live and a stale worker, beat missing,
each in its colour."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from portal.heartbeats import record_heartbeat, required_queues
from portal.models import ProcessKind

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
DANGER, OK = "rgb(180, 35, 24)", "rgb(6, 118, 71)"  # --danger, --ok of keywarden.css


def test_admin_home_shows_worker_and_beat_liveness_in_colour(browsing, screenshot, admin_user):
    # given: one worker beating, one silent for 5 minutes, no beat
    now = timezone.now()
    queues = list(required_queues())
    record_heartbeat(kind=ProcessKind.WORKER, name="worker@live", queues=queues, now=now)
    record_heartbeat(
        kind=ProcessKind.WORKER, name="worker@paused", queues=queues, now=now - timedelta(minutes=5)
    )
    # when
    erin = browsing.sign_in(admin_user)
    card = erin.locator('section[aria-labelledby="liveness"]')
    # then
    live = card.locator("li", has_text="worker@live").locator(".badge")
    stale = card.locator("li", has_text="worker@paused").locator(".badge")
    expect(live).to_have_text("live")
    expect(stale).to_have_text("stale")
    expect(card.locator("li", has_text="Beat has not ticked").locator(".badge")).to_have_text(
        "none"
    )
    expect(live).to_have_css("color", OK)
    expect(stale).to_have_css("color", DANGER)
    expect(card).to_contain_text("No approved request is waiting for a worker.")
    card.scroll_into_view_if_needed()
    screenshot(erin, "home-admin-liveness")
    assert browsing.csp_violations == []
