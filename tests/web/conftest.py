"""Fixtures of the web portal tests: signed-in browser-like clients and the workflow fixtures
of the approvals tests (inventory, requests in each state), reused as they are."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from playwright.sync_api import expect

from approvals.models import ChangeRequest, State
from tests.approvals.conftest import (  # noqa: F401 (fixtures)
    approved_request,
    inventory,
    pending_request,
    submit,
)
from tests.audit.conftest import tamper, verify_now, write_events  # noqa: F401 (fixtures)
from tests.conftest import PASSWORD

# --- posting like a browser ----------------------------------------------------------------------
EC_KEY_FORM = {
    "team": "payments",
    "name": "pay-web",
    "kty": "EC-HSM",
    "curve": "P-256",
    "key_ops": ["sign", "verify"],
    "justification": "Signing key for the checkout service.",
}


def csrf_post(client, path, data=None, **extra):
    """POST with the CSRF token a real browser would send (cookie + form field)."""
    client.get("/")
    token = client.cookies["csrftoken"].value
    return client.post(path, {**(data or {}), "csrfmiddlewaretoken": token}, **extra)


def draft_token(response) -> str:
    return re.search(r'name="draft" value="([^"]+)"', response.content.decode()).group(1)


@pytest.fixture
def client_for(db):
    """`client_for(user)` → a Django test client with that user's session (CSRF checks on)."""

    def make(user) -> Client:
        client = Client(enforce_csrf_checks=True)
        client.force_login(user)
        return client

    return make


# --- browser tests (Playwright driving Debian's Chromium; never a downloaded browser) ----------
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@dataclass
class BrowserSession:
    """Opens one browser context per signed-in user and records CSP violations of them all."""

    browser: Any
    base_url: str
    csp_violations: list[str] = field(default_factory=list)
    contexts: list = field(default_factory=list)

    def sign_in(self, user, *, viewport=LAPTOP):
        """A page signed in through the local sign-in form, on the home page."""
        context = self.browser.new_context(base_url=self.base_url, viewport=viewport)
        self.contexts.append(context)
        page = context.new_page()
        page.on("console", self._note_violation)
        page.goto("/accounts/login/")
        page.get_by_label("Username").fill(user.username)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name=f"Welcome, {user.get_full_name()}")).to_be_visible()
        return page

    def _note_violation(self, message) -> None:
        if "Content Security Policy" in message.text:
            self.csp_violations.append(message.text)

    def close(self) -> None:
        for context in self.contexts:
            context.close()


@pytest.fixture
def browsing(browser, live_server):
    """`browsing.sign_in(user)` → a signed-in page on the live server."""
    session = BrowserSession(browser=browser, base_url=live_server.url)
    yield session
    session.close()


@pytest.fixture(scope="session")
def screenshot():
    """`screenshot(page, "name")` → test-artifacts/screenshots/name.png (whole page)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str) -> None:
        page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)

    return take


@pytest.fixture
def identity_request(other_requester, identity_team):
    """A pending request of the identity team (bob's), which payments members never see."""
    return submit(
        other_requester,
        team="identity",
        params={"name": "idn-new", "kty": "EC-HSM", "curve": "P-256", "key_ops": ["sign"]},
    )


@pytest.fixture
def failed_request(approved_request):  # noqa: F811 (the imported fixture)
    """An approved request whose execution failed with the HSM's message (as a worker leaves
    it; the state is set directly like tests/approvals/test_decisions.py does)."""
    error = {
        "error": "HsmForbidden",
        "code": "Forbidden",
        "status": 403,
        "message": "Caller is not authorized to perform action on resource.",
        "hsm_request_id": "8d2a1f55-0000-4000-8000-00000000e001",
        "operation": "create_key",
    }
    ChangeRequest.objects.filter(pk=approved_request.pk).update(state=State.FAILED, error=error)
    approved_request.refresh_from_db()
    return approved_request
