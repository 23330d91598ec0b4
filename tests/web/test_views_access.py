"""Every page for every role, like the API: allowed → 200, wrong role → 403, not visible → 404,
anonymous → redirect to sign-in."""

from __future__ import annotations

import re

import pytest

from accounts.services import set_user_access
from audit.context import AuditContext

ALL_ROLES = ("requester", "custodian", "admin", "auditor")
EVERY_ROLE = {role: 200 for role in ALL_ROLES} | {"outsider": 403}
ONLY = {role: 403 for role in (*ALL_ROLES, "outsider")}

PAGES = {
    "home": ("/", {**EVERY_ROLE, "outsider": 200}),
    "inventory": ("/keys/", EVERY_ROLE),
    "own key": ("/keys/pay-live/", EVERY_ROLE),
    "other team's key": ("/keys/idn-key/", {**EVERY_ROLE, "requester": 404}),
    "unknown key": ("/keys/pay-nothing/", {**EVERY_ROLE, **dict.fromkeys(ALL_ROLES, 404)}),
    "requests": ("/requests/", EVERY_ROLE),
    "own request": ("/requests/{pending}/", EVERY_ROLE),
    "own request live": ("/requests/{pending}/live/", EVERY_ROLE),
    "other team's request": ("/requests/{other}/", {**EVERY_ROLE, "requester": 404}),
    "other team's live": ("/requests/{other}/live/", {**EVERY_ROLE, "requester": 404}),
    "new request": ("/requests/new/", {**ONLY, "requester": 200}),
    "new key.create": ("/requests/new/key.create/", {**ONLY, "requester": 200}),
    "new key.import": ("/requests/new/key.import/", {**ONLY, "requester": 200}),
    "new role.assign": ("/requests/new/role.assign/", {**ONLY, "requester": 200}),
    "new key.adopt": ("/requests/new/key.adopt/", {**ONLY, "requester": 200, "admin": 200}),
    "new unknown": ("/requests/new/key.nope/", {**ONLY, "requester": 404}),
    "approval queue": ("/approvals/", {**ONLY, "custodian": 200}),
    "audit trail": ("/audit/", EVERY_ROLE),
    "chain verification": ("/audit/verify/", {**ONLY, "admin": 200, "auditor": 200}),
    "policies": ("/policies/", {**ONLY, "admin": 200}),
    "policy edit": ("/policies/key.purge/", {**ONLY, "admin": 200}),
    "unknown policy": ("/policies/key.nope/", {**ONLY, "admin": 404}),
}
CASES = [
    pytest.param(f"{page} as {role}", url, role, status, id=f"{page}-{role}")
    for page, (url, statuses) in PAGES.items()
    for role, status in statuses.items()
]
POSTS = ["approve", "reject", "cancel", "retry"]


@pytest.mark.parametrize(("_case", "url", "role", "status"), CASES)
def test_page_answers_each_role_like_the_api(
    _case,
    url,
    role,
    status,
    user_for_role,
    client_for,
    inventory,
    pending_request,
    identity_request,
):
    # given
    client = client_for(user_for_role(role))

    # when
    response = client.get(url.format(pending=pending_request.pk, other=identity_request.pk))

    # then
    assert response.status_code == status


@pytest.mark.parametrize(
    ("_case", "url"), [pytest.param(page, url, id=page) for page, (url, _) in PAGES.items()]
)
def test_anonymous_visitor_is_sent_to_sign_in(
    _case, url, client, pending_request, identity_request
):
    # given
    path = url.format(pending=pending_request.pk, other=identity_request.pk)

    # when
    response = client.get(path)

    # then
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={path}"


@pytest.mark.parametrize(("_case", "action"), [(action, action) for action in POSTS])
def test_anonymous_post_is_sent_to_sign_in(_case, action, client, pending_request):
    # given
    path = f"/requests/{pending_request.pk}/{action}/"

    # when
    response = client.post(path, {"comment": "x"})

    # then
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={path}"
    assert pending_request.approvals.exists() is False


@pytest.mark.parametrize(
    ("_case", "role", "links"),
    [
        (
            "requester",
            "requester",
            ["Home", "Keys", "Requests", "New request", "Rotation", "Audit trail", "Inbox"],
        ),
        (
            "custodian",
            "custodian",
            [
                "Home",
                "Keys",
                "Requests",
                "Approval queue",
                "Rotation",
                "Posture",
                "Audit trail",
                "Custody",
                "Inbox",
            ],
        ),
        (
            "admin",
            "admin",
            [
                "Home",
                "Keys",
                "Requests",
                "Rotation",
                "Posture",
                "Audit trail",
                "Custody",
                "Policies",
                "Rotation standards",
                "Inbox",
            ],
        ),
        (
            "auditor",
            "auditor",
            ["Home", "Keys", "Requests", "Rotation", "Posture", "Audit trail", "Custody", "Inbox"],
        ),
        ("outsider", "outsider", ["Home"]),
    ],
)
def test_navigation_shows_only_what_the_roles_allow(
    _case, role, links, user_for_role, client_for, payments_team
):
    # given
    client = client_for(user_for_role(role))

    # when
    response = client.get("/")

    # then
    nav = re.search(r'<nav aria-label="Main"[^>]*>(.*?)</nav>', response.content.decode(), re.S)
    assert re.findall(r"<a [^>]*>([^<]+)</a>", nav.group(1)) == [*links, "API"]


def test_home_shows_a_section_per_role_of_a_user_with_several(
    client_for, requester, custodian, payments_team
):
    # given
    set_user_access(
        user=requester,
        teams=[payments_team],
        roles=["custodian", "admin"],
        ctx=AuditContext.system("test"),
    )

    # when
    html = client_for(requester).get("/").content.decode()

    # then
    headings = ["My teams' keys", "Open requests", "Waiting for my approval", "Failed executions"]
    assert [heading in html for heading in headings] == [True, True, True, True]
    assert "Last inventory sync" in html


@pytest.mark.parametrize(
    ("_case", "url", "role", "reason"),
    [
        ("verify as custodian", "/audit/verify/", "custodian", "Only auditors and admins"),
        ("verify as requester", "/audit/verify/", "requester", "Only auditors and admins"),
        ("policies as custodian", "/policies/", "custodian", "Only admins edit approval"),
        ("policy edit as auditor", "/policies/key.create/", "auditor", "Only admins edit approval"),
    ],
)
def test_refused_page_names_the_rule_it_broke(_case, url, role, reason, user_for_role, client_for):
    response = client_for(user_for_role(role)).get(url)
    assert response.status_code == 403
    assert reason in response.content.decode()
