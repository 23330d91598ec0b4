"""Every portal page at 390 px (a phone) in Chromium: nothing may widen the page past the screen.

The pages come from the URL patterns themselves, so a page added later is visited without
touching this module, or `test_every_page_has_a_sample_url` fails naming the pattern that needs
a row in SAMPLE_KWARGS (or in NOT_PAGES, with the reason it is no page of its own).
Screenshots: test-artifacts/screenshots/layout-390-<page>.png, as the first role to open it."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from playwright.sync_api import expect

from approvals import services
from approvals.models import Approval, ChangeRequest, Execution, Operation, State
from audit.context import AuditContext
from keys.models import KeyVersion, RotationSchedule
from keys.services.compliance import update_rotation_standard
from tests.approvals.conftest import submit
from tests.web.conftest import LAPTOP, PHONE

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Route prefixes that are not portal pages: the JSON API (its Swagger UI is the library's own
# page) and Django's admin.
NOT_PORTAL = ("api/", "admin/")

# Named patterns outside NOT_PORTAL that are no page of their own, and why.
NOT_PAGES = {
    "approvals:request-confirm": "POST only (the preview's Submit button)",
    "approvals:request-approve": "POST only (a button on approvals:request-detail)",
    "approvals:request-reject": "POST only (a button on approvals:request-detail)",
    "approvals:request-cancel": "POST only (a button on approvals:request-detail)",
    "approvals:request-retry": "POST only (a button on approvals:request-detail)",
    "approvals:request-live": "a fragment approvals:request-detail includes",
    "trail:verify-live": "a fragment trail:verify includes",
    "inventory-sync": "POST only (the home page's Sync now)",
    "inventory-sync-live": "a fragment the home page includes",
    "reports:rotation-csv": "a CSV download",
    "healthz": "JSON for load balancers",
    "keys:principal-remove": "POST only (a button on keys:principals)",
    "notifications:inbox-read": "POST only (a button on notifications:inbox)",
    "posture:accept": "POST only (a form on posture:findings)",
    "notifications:inbox-read-all": "POST only (a button on notifications:inbox)",
    "metrics": "Prometheus text for the scraper (tests/portal/test_metrics.py)",
    "custody:confirm": "POST only (a holder's button on custody:register)",
    "custody:rehearsal-live": "a fragment custody:rehearsal includes",
    "custody:rehearsal-transfer-key": "a JSON download (tests/custody/test_rehearsal_page.py)",
    "posture:check": "POST only (the Check now button on posture:findings)",
    "notifications:demo-mail": "demo only: 404 unless mail goes to files (tests/notifications)",
    "readyz": "JSON for load balancers",
    "logout": "POST only (the Sign out button)",
    "entra-login": "a redirect to Microsoft Entra ID",
    "entra-callback": "Microsoft Entra ID's redirect back",
}

# One place: the sample URL arguments of every page whose pattern takes any, as functions of
# the seeded dataset below returning {label: kwargs} (one visit each; the label names the
# screenshot). A new page with arguments needs a row here.
SAMPLE_KWARGS: dict[str, Callable[[SimpleNamespace], dict[str, dict]]] = {
    "keys:detail": lambda seed: {name: {"name": name} for name in ("pay-live", "pay-deleted")},
    "keys:rotation-standard-edit": lambda seed: {"standard": {"key_class": "standard"}},
    "keys:rotation-override-edit": lambda seed: {
        "payments": {"key_class": "standard", "team_slug": "payments"}
    },
    "approvals:request-new": lambda seed: {op: {"operation": op} for op in Operation.values},
    "approvals:request-detail": lambda seed: {
        label: {"pk": change.pk} for label, change in seed.requests.items()
    },
    "approvals:policy-edit": lambda seed: {"purge": {"operation": Operation.KEY_PURGE}},
    "keys:principals": lambda seed: {"payments": {"team_slug": "payments"}},
    "notifications:team-channels": lambda seed: {"payments": {"slug": "payments"}},
}

# Who signs in: every role sees different pages (None: signed out).
ROLES = {
    "anonymous": None,
    "requester": "requester",
    "custodian": "custodian",
    "admin": "admin_user",
    "auditor": "auditor",
    "outsider": "outsider",
}

# Reads the page's width and, when it overflows, the innermost elements that reach past the
# right edge of the screen (content inside a box that scrolls or clips does not count).
OVERFLOW_JS = """() => {
  const width = window.innerWidth, page = document.documentElement.scrollWidth;
  if (page <= width) return null;
  // The boxes that clip an element: its containing blocks up to the body (an absolutely
  // positioned element escapes every box between it and its nearest positioned ancestor).
  const container = (el) => {
    const position = getComputedStyle(el).position;
    if (position === "fixed") return null;
    let p = el.parentElement;
    while (position === "absolute" && p && getComputedStyle(p).position === "static") {
      p = p.parentElement;
    }
    return p;
  };
  const inBox = (el) => {
    for (let p = container(el); p && p !== document.body; p = container(p)) {
      if (getComputedStyle(p).overflowX !== "visible") return true;
    }
    return false;
  };
  // Content may reach past its own box (an unbreakable word): scrollWidth counts it.
  const right = (el) => {
    const box = el.getBoundingClientRect();
    const scrolls = getComputedStyle(el).overflowX !== "visible";
    return scrolls ? box.right : Math.max(box.right, box.left + el.scrollWidth);
  };
  const past = (el) => right(el) > width + 0.5 && !inBox(el);
  const name = (el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "")
    + [...el.classList].map((c) => "." + c).join("");
  const path = (el) => {
    const parts = [];
    for (let p = el; p && p !== document.body && parts.length < 4; p = p.parentElement) {
      parts.unshift(name(p));
    }
    const section = el.closest("section");
    const heading = section && section.querySelector("h2");
    return parts.join(" > ") + (heading ? ` in section "${heading.textContent.trim()}"` : "");
  };
  const culprits = [...document.body.querySelectorAll("*")]
    .filter((el) => past(el) && ![...el.children].some(past))
    .slice(0, 3)
    .map((el) => `${path(el)} (right edge ${Math.round(right(el))} px, `
      + `"${(el.textContent || "").trim().slice(0, 40)}")`);
  return `${page} px wide on a ${width} px screen: ${culprits.join("; ")}`;
}"""


@dataclass(frozen=True)
class Page:
    pattern: str
    url: str
    label: str = ""

    @property
    def slug(self) -> str:
        return re.sub(r"[^a-z0-9]+", "-", f"{self.pattern} {self.label}".lower()).strip("-")


def portal_patterns() -> list[tuple[str, str, bool]]:
    """(qualified name, route, takes arguments) of every named pattern outside NOT_PORTAL."""
    found = []

    def walk(patterns, prefix: str, namespace: str) -> None:
        for entry in patterns:
            route = prefix + str(entry.pattern)
            if route.startswith(NOT_PORTAL):
                continue
            if isinstance(entry, URLResolver):
                inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
                walk(entry.url_patterns, route, inner)
            elif isinstance(entry, URLPattern) and entry.name:
                found.append((namespace + entry.name, route, bool(entry.pattern.converters)))

    walk(get_resolver().url_patterns, "", "")
    return found


def sample_pages(seed: SimpleNamespace) -> list[Page]:
    return [
        Page(name, reverse(name, kwargs=kwargs), label)
        for name, _route, takes_arguments in portal_patterns()
        if name not in NOT_PAGES
        for label, kwargs in (SAMPLE_KWARGS[name](seed) if takes_arguments else {"": {}}).items()
    ]


def test_every_page_has_a_sample_url():
    # given
    patterns = portal_patterns()
    names = {name for name, _route, _arguments in patterns}

    # when
    missing = [
        f"{name} ({route})"
        for name, route, takes_arguments in patterns
        if takes_arguments and name not in SAMPLE_KWARGS and name not in NOT_PAGES
    ]
    stale = sorted((set(SAMPLE_KWARGS) | set(NOT_PAGES)) - names)

    # then
    assert missing == [], (
        f"pages without sample URL arguments (add them to SAMPLE_KWARGS): {missing}"
    )
    assert stale == [], f"SAMPLE_KWARGS/NOT_PAGES name patterns that no longer exist: {stale}"


# --- a small dataset with long identifiers everywhere a page shows one --------------------------
LONG_VERSION = "6a3f0c2e9b1d4e7fa05c8d2b1e4f7a90"
HSM_REQUEST_ID = "8d2a1f55-0000-4000-8000-00000000e001"
NEW_KEY = {"name": "pay-made", "kty": "EC-HSM", "curve": "P-256", "key_ops": ["sign"]}


def _finish(change: ChangeRequest, *custodians, result: dict | None = None, error=None):
    """A request as a worker leaves it after two approvals (state set directly, as
    tests/web/conftest.py's failed_request does: no task may be dispatched here)."""
    for custodian in custodians:
        Approval.objects.create(
            request=change,
            approver=custodian,
            decision="approve",
            comment="Looks right.",
            payload_hash=change.payload_hash,
        )
    now = timezone.now()
    Execution.objects.create(
        request=change,
        attempt=1,
        started_at=now,
        heartbeat_at=now,
        finished_at=now,
        outcome="failed" if error else "succeeded",
        hsm_request_ids=[HSM_REQUEST_ID, HSM_REQUEST_ID.replace("e001", "e002")],
        result=result,
        error=error,
    )
    state = State.FAILED if error else State.SUCCEEDED
    ChangeRequest.objects.filter(pk=change.pk).update(state=state, result=result, error=error)
    change.refresh_from_db()
    return change


@pytest.fixture
def seed(inventory, requester, custodian, second_custodian, admin_user, auditor, outsider):
    """Keys with versions, a policy, a schedule and an assignment; a request in every state
    a page renders differently, with results as the operations record them; an override."""
    live, now = inventory["pay-live"], timezone.now()
    policy = {
        "lifetime_actions": [
            {"action": "Rotate", "time_after_create": "P90D"},
            {"action": "Notify", "time_before_expiry": "P30D"},
        ],
        "expiry_time": "P1Y",
    }
    live.current_version, live.rotation_policy, live.tags = LONG_VERSION, policy, {"owner": "x"}
    live.save()
    for number in range(2):
        KeyVersion.objects.create(
            key=live, version=LONG_VERSION[:-1] + str(number), created_on=now, expires_on=now
        )
    rotate = submit(requester, Operation.KEY_ROTATE, params={"name": "pay-live"})
    RotationSchedule.objects.create(
        key=live,
        cadence="P90D",
        mode="auto",
        approved_by=rotate.pk,
        approved_payload_hash=rotate.payload_hash,
        created_at=now,
        next_run_on=now + timedelta(days=90),
    )
    kid = f"https://keywarden-test.managedhsm.azure.net/keys/pay-live/{LONG_VERSION}"
    requests = {
        "pending": submit(requester),
        "rotated": _finish(
            rotate,
            custodian,
            second_custodian,
            result={"key": "pay-live", "version": LONG_VERSION, "previous_version": "0" * 32},
        ),
        "created": _finish(
            submit(requester, params=NEW_KEY),
            custodian,
            second_custodian,
            result={"key": "pay-made", "version": LONG_VERSION, "kid": kid},
        ),
        "policy": _finish(
            submit(
                requester, Operation.KEY_SET_ROTATION_POLICY, params={"name": "pay-rsa", **policy}
            ),
            custodian,
            second_custodian,
            result={"key": "pay-rsa", "rotation_policy": policy},
        ),
        "failed": _finish(
            submit(requester, Operation.KEY_ROTATE, params={"name": "pay-rsa"}),
            custodian,
            second_custodian,
            error={
                "error": "HsmForbidden",
                "message": "Caller is not authorized to perform action on resource.",
                "hsm_request_id": HSM_REQUEST_ID,
            },
        ),
        "rejected": services.reject_request(
            request_id=submit(requester, Operation.KEY_BACKUP, params={"name": "pay-rsa"}).pk,
            custodian=custodian,
            comment="Not needed: the key is exportable nowhere.",
            ctx=AuditContext(actor=custodian),
        ),
    }
    update_rotation_standard(
        key_class="standard",
        team=live.team,
        max_age="P1Y",
        warn_before="P30D",
        admin=admin_user,
        ctx=AuditContext(actor=admin_user),
        now=now,
    )
    return SimpleNamespace(requests=requests, keys=inventory)


def open_as(browsing, user, *, viewport):
    """A page of a new browser context and a test client sharing one session: signed in as
    `user` (without the sign-in form, which tests/web/test_browser.py drives), or signed out."""
    client = Client()
    context = browsing.browser.new_context(base_url=browsing.base_url, viewport=viewport)
    browsing.contexts.append(context)
    if user is not None:
        client.force_login(user)
        session = client.cookies[settings.SESSION_COOKIE_NAME].value
        cookie = {"name": settings.SESSION_COOKIE_NAME, "value": session, "url": browsing.base_url}
        context.add_cookies([cookie])
    page = context.new_page()
    page.on("console", browsing._note_violation)
    return page, client


def reachable(pages: list[Page], client: Client) -> list[Page]:
    """The pages this session gets as pages (200, not redirected elsewhere), asked in-process:
    the browser then visits only those."""
    return [page for page in pages if client.get(page.url).status_code == 200]


def test_no_page_is_wider_than_a_phone(browsing, seed, request, screenshot):
    # given
    pages = sample_pages(seed)
    overflowing, visited = [], set()

    # when: one context per role, each page it may open in turn
    for role, fixture in ROLES.items():
        user = request.getfixturevalue(fixture) if fixture else None
        phone, client = open_as(browsing, user, viewport=PHONE)
        for page in reachable(pages, client):
            response = phone.goto(page.url)
            assert (response.status, urlsplit(phone.url).path) == (200, page.url), role
            problem = phone.evaluate(OVERFLOW_JS)
            if problem:
                overflowing.append(f"{page.pattern} {page.url} as {role}: {problem}")
            if page not in visited:  # one screenshot per page, as the first role sees it
                screenshot(phone, f"layout-390-{page.slug}")
            visited.add(page)

    # then
    assert overflowing == []
    assert sorted(page.url for page in set(pages) - visited) == [], "pages no role may open"
    assert browsing.csp_violations == []


def test_key_detail_on_a_laptop_keeps_its_two_column_properties(
    browsing, seed, requester, screenshot
):
    # given
    laptop, _client = open_as(browsing, requester, viewport=LAPTOP)

    # when
    laptop.goto("/keys/pay-live/")

    # then
    expect(laptop.get_by_role("heading", name="Key pay-live")).to_be_visible()
    assert laptop.evaluate(OVERFLOW_JS) is None
    columns = laptop.locator("#properties + dl").evaluate(
        "(dl) => getComputedStyle(dl).gridTemplateColumns.split(' ').length"
    )
    assert columns == 2
    screenshot(laptop, "layout-laptop-key-detail")


def test_the_navigation_folds_behind_a_menu_button_on_a_phone(browsing, requester):
    # given
    phone, _client = open_as(browsing, requester, viewport=PHONE)
    phone.goto("/")
    menu = phone.get_by_role("button", name="Menu")
    keys = phone.get_by_role("navigation", name="Main").get_by_role("link", name="Keys")
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(keys).to_be_hidden()

    # when
    menu.click()

    # then
    expect(menu).to_have_attribute("aria-expanded", "true")
    expect(keys).to_be_visible()
    keys.click()
    expect(phone.get_by_role("heading", name="Key inventory")).to_be_visible()
