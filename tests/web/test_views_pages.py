"""What the pages show: inventory search/sort/filter, key detail, request detail and its live
fragment, the approval queue, the audit trail (exports, paging, verification) and dashboards."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from approvals.models import ChangeRequest, State
from audit import Target
from audit.actions import Action
from audit.models import VerificationRun
from keys.models import InventorySyncRun
from keys.services.compliance import refresh_compliance
from tests.approvals.conftest import approve, submit
from tests.factories import ManagedKeyFactory
from tests.web.conftest import csrf_post

ASSIGN = {
    "role": "Managed HSM Crypto User",
    "principal_id": "0a0a0a0a-0000-4000-8000-00000000beef",
    "principal_type": "ServicePrincipal",
    "scope": "/keys/pay-rsa",
}


def key_links(response) -> list[str]:
    return re.findall(r'<td><a href="/keys/[^/]+/">([^<]+)</a></td>', response.content.decode())


@pytest.mark.parametrize(
    ("_case", "query", "names"),
    [
        ("sorted by name", "", ["pay-deleted", "pay-kek", "pay-live", "pay-rsa"]),
        ("reverse", "?ordering=-name", ["pay-rsa", "pay-live", "pay-kek", "pay-deleted"]),
        ("search", "?search=RS", ["pay-rsa"]),
        ("filter", "?state=deleted", ["pay-deleted"]),
        ("key type, case-insensitive", "?kty=rsa-hsm", ["pay-kek", "pay-rsa"]),
        ("unknown sort → name", "?ordering=x", ["pay-deleted", "pay-kek", "pay-live", "pay-rsa"]),
    ],
)
def test_inventory_filters_searches_and_sorts_the_visible_keys(
    _case, query, names, client_for, requester, inventory
):
    # given
    client = client_for(requester)

    # when
    response = client.get(f"/keys/{query}")

    # then
    assert key_links(response) == names


def test_inventory_pages_through_many_keys(client_for, custodian, payments_team):
    # given
    for number in range(30):
        ManagedKeyFactory(name=f"pay-k{number:02}", team=payments_team)

    # when
    second = client_for(custodian).get("/keys/?ordering=name&page=2")

    # then
    assert key_links(second) == ["pay-k25", "pay-k26", "pay-k27", "pay-k28", "pay-k29"]
    assert "Page 2 of 2" in second.content.decode()


def test_key_detail_shows_versions_policy_assignments_requests_and_audit(
    client_for, requester, inventory
):
    # given
    key = inventory["pay-live"]
    key.versions.create(version="a1b2c3")
    key.rotation_policy = {"lifetime_actions": [], "expiry_time": "P1Y"}
    key.save()
    change = submit(requester, "key.rotate", params={"name": "pay-live"})

    # when
    html = client_for(requester).get("/keys/pay-live/").content.decode()

    # then
    assert "<code>a1b2c3</code>" in html
    assert "&quot;expiry_time&quot;: &quot;P1Y&quot;" in html
    assert "0a0a0a0a-0000-4000-8000-000000000001" in html
    assert "/requests/new/role.revoke/?team=payments&amp;assignment=9b9b9b9b-" in html
    assert f'href="/requests/{change.pk}/">Rotate key</a>' in html
    assert "Request submitted <code" in html
    assert "/requests/new/key.rotate/?team=payments&amp;name=pay-live" in html


def test_key_detail_and_list_show_the_stored_compliance(client_for, requester, inventory):
    # given
    key = inventory["pay-live"]
    key.current_version_created_on = timezone.now() - timedelta(days=95)
    key.tags = {"keywarden-class": "active"}
    key.save()
    refresh_compliance(now=timezone.now())
    due = f"{key.current_version_created_on + timedelta(days=90):%Y-%m-%d}"

    # when
    detail = client_for(requester).get("/keys/pay-live/").content.decode()
    listing = client_for(requester).get("/keys/?compliance=overdue").content.decode()

    # then
    assert "<dt>Rotation class</dt><dd>active</dd>" in detail
    assert (
        "<dt>Compliance</dt><dd>Overdue: Current version is 95 days old; the active class "
        "allows 90 days.</dd>"
    ) in detail
    assert f"<dt>Rotation due</dt><dd>{due}</dd>" in detail
    assert "<dt>Rotated by</dt><dd>Nothing</dd>" in detail
    assert 'href="/keys/pay-live/"' in listing
    assert f"<td>Overdue</td>\n      <td>{due}</td>" in listing


@pytest.mark.parametrize(
    ("_case", "key", "links"),
    [
        ("live key", "pay-live", ["key.rotate", "key.update", "key.backup", "key.delete"]),
        ("deleted key", "pay-deleted", ["key.recover", "key.purge"]),
    ],
)
def test_key_actions_follow_the_keys_state(_case, key, links, client_for, requester, inventory):
    # given
    client = client_for(requester)

    # when
    html = client.get(f"/keys/{key}/").content.decode()

    # then
    offered = sorted(set(re.findall(r'href="/requests/new/([a-z._]+)/', html)))
    assert [link in offered for link in links] == [True] * len(links)


def test_key_actions_are_not_offered_outside_the_owning_team(client_for, custodian, inventory):
    # given
    client = client_for(custodian)

    # when
    html = client.get("/keys/pay-live/").content.decode()

    # then
    assert "Request a change" not in html
    assert "/requests/new/" not in html


def test_key_of_no_team_offers_no_actions(client_for, custodian, db):
    # given: a key made outside Keywarden with no team's prefix
    ManagedKeyFactory(name="stray-key", team=None)

    # when
    response = client_for(custodian).get("/keys/stray-key/")

    # then
    assert response.status_code == 200
    assert "/requests/new/" not in response.content.decode()


def test_request_detail_shows_payload_decisions_and_timeline(
    client_for, requester, custodian, pending_request
):
    # given
    approve(pending_request, custodian)

    # when
    html = client_for(requester).get(f"/requests/{pending_request.pk}/").content.decode()

    # then
    assert "&quot;curve&quot;: &quot;P-256&quot;" in html
    assert "by <strong>carol</strong>" in html
    assert "“ok”" in html
    assert re.findall(r"— ([A-Z][a-z ]+) <span", html) == ["Request submitted", "Approval added"]
    assert 'data-live-url="/requests/' in html
    assert '<script src="/static/js/live-status.js" defer></script>' in html


@pytest.mark.parametrize(
    ("_case", "state", "is_open"),
    [
        ("pending", State.PENDING, "true"),
        ("running", State.RUNNING, "true"),
        ("succeeded", State.SUCCEEDED, "false"),
        ("failed", State.FAILED, "false"),
    ],
)
def test_live_fragment_says_whether_to_keep_polling(
    _case, state, is_open, client_for, requester, pending_request
):
    # given
    ChangeRequest.objects.filter(pk=pending_request.pk).update(state=state)

    # when
    response = client_for(requester).get(f"/requests/{pending_request.pk}/live/")

    # then
    html = response.content.decode()
    assert response.status_code == 200
    assert f'data-open="{is_open}"' in html
    assert "<html" not in html


def test_backup_download_is_offered_to_custodians_once_the_backup_succeeded(
    client_for, requester, custodian, inventory
):
    # given
    change = submit(requester, "key.backup", params={"name": "pay-live"})
    ChangeRequest.objects.filter(pk=change.pk).update(state=State.SUCCEEDED)
    url = f"/requests/{change.pk}/"

    # when
    pages = [client_for(user).get(url).content.decode() for user in (custodian, requester)]

    # then
    link = f'href="/api/v1/requests/{change.pk}/backup/"'
    assert [link in html for html in pages] == [True, False]


def test_approval_queue_is_oldest_first_with_high_risk_marked(
    client_for, requester, custodian, inventory
):
    # given
    rotate = submit(requester, "key.rotate", params={"name": "pay-live"})
    assign = submit(requester, "role.assign", params=ASSIGN)
    ChangeRequest.objects.filter(pk=rotate.pk).update(
        created_at=timezone.now() - timedelta(hours=5)
    )

    # when
    html = client_for(custodian).get("/approvals/").content.decode()

    # then
    rows = re.findall(
        r'<tr( class="high-risk")?>\s*<td>[^<]*</td>\s*<td><a href="/requests/([^/]+)/', html
    )
    assert rows == [("", str(rotate.pk)), (' class="high-risk"', str(assign.pk))]
    assert html.count('<span class="badge bad">high risk</span>') == 1


def test_custodian_home_shows_the_oldest_wait(client_for, requester, custodian, inventory):
    # given
    rotate = submit(requester, "key.rotate", params={"name": "pay-live"})
    ChangeRequest.objects.filter(pk=rotate.pk).update(created_at=timezone.now() - timedelta(days=2))

    # when
    html = client_for(custodian).get("/").content.decode()

    # then
    assert "Oldest wait: <strong>2\xa0days</strong> (Rotate key on pay-live)" in html


def test_admin_home_shows_failures_drift_overdue_keys_and_the_last_sync(
    client_for, admin_user, failed_request, inventory
):
    # given
    now = timezone.now()
    ManagedKeyFactory(name="pay-drifted", team=inventory["pay-live"].team, has_drift=True)
    ManagedKeyFactory(
        name="pay-old", compliance_state="overdue", compliance_due_on=now - timedelta(days=3)
    )
    ManagedKeyFactory(name="pay-due-soon", compliance_state="due_soon")
    InventorySyncRun.objects.create(
        id="6f1b0000-0000-4000-8000-000000000001",
        started_at=now,
        heartbeat_at=now,
        status="failed",
        error="HSM unavailable",
    )

    # when
    html = client_for(admin_user).get("/").content.decode()

    # then
    assert f'href="/requests/{failed_request.pk}/"' in html
    assert 'href="/keys/pay-drifted/"' in html
    assert 'href="/keys/pay-old/"' in html
    assert 'href="/keys/pay-due-soon/"' not in html
    assert '<p class="error">HSM unavailable</p>' in html


def test_audit_trail_links_exports_with_the_current_filters(client_for, auditor, write_events):
    # given
    write_events(3)

    # when
    html = client_for(auditor).get("/audit/?action_prefix=team.&team=").content.decode()

    # then
    assert 'href="/api/v1/audit/export.csv?action_prefix=team.&amp;team="' in html
    assert 'href="/api/v1/audit/export.jsonl?action_prefix=team.&amp;team="' in html


def test_audit_trail_pages_back_by_sequence(client_for, auditor, write_events):
    # given
    write_events(60)
    client = client_for(auditor)

    # when
    first = client.get("/audit/?action=team.updated")
    older = client.get("/audit/?action=team.updated&before=11")

    # then
    assert [event.sequence for event in first.context["events"]][:2] == [60, 59]
    assert first.context["older"] == 11
    assert 'href="?action=team.updated&amp;before=11"' in first.content.decode()
    assert [event.sequence for event in older.context["events"]] == list(range(10, 0, -1))
    assert older.context["older"] is None


def test_audit_trail_is_scoped_like_the_api(client_for, requester, write_events, payments_team):
    # given
    write_events(2, target=Target("test.thing", "1", "elsewhere"))
    write_events(1, action=Action.TEAM_UPDATED, target=payments_team)

    # when
    events = client_for(requester).get("/audit/").context["events"]

    # then
    assert [event.team_slug for event in events] == ["payments"]


def test_verify_shows_the_latest_run(client_for, auditor, write_events, verify_now):
    # given
    client = client_for(auditor)  # signing in is event #1
    write_events(5)
    verify_now()

    # when
    html = client.get("/audit/verify/").content.decode()

    # then
    assert "The chain is intact" in html
    assert "6 events checked, #1 to #6; the newest is #6" in html
    assert 'name="csrfmiddlewaretoken"' in html


def test_verify_names_the_first_broken_event(client_for, auditor, write_events, tamper, verify_now):
    # given
    client = client_for(auditor)
    write_events(5)
    tamper("UPDATE audit_auditevent SET target_name = 'other' WHERE sequence = 3")
    verify_now()

    # when
    html = client.get("/audit/verify/").content.decode()

    # then
    assert "The chain has been tampered with" in html
    assert "First broken event: <strong>#3</strong>" in html


def test_verify_shows_a_running_run_with_its_progress_and_no_button(
    client_for, auditor, write_events
):
    # given
    client = client_for(auditor)
    write_events(5)
    csrf_post(client, "/audit/verify/", {"full": "on"})

    # when
    html = client.get("/audit/verify/live/").content.decode()

    # then
    assert 'data-open="true"' in html
    assert "Verifying events #1 to #" in html
    assert "0 of " in html
    assert "Verify now" not in html


def test_verify_now_starts_a_run_queued_on_commit(
    client_for, auditor, write_events, django_capture_on_commit_callbacks
):
    # given
    client = client_for(auditor)
    write_events(2)
    client.get("/")

    # when
    with django_capture_on_commit_callbacks() as callbacks:
        response = csrf_post(client, "/audit/verify/", {"full": "on"})

    # then
    assert (response.status_code, response["Location"]) == (302, "/audit/verify/")
    run = VerificationRun.objects.get()
    assert (run.status, run.trigger, run.started_by, run.is_full) == (
        "running",
        "manual",
        auditor,
        True,
    )
    assert callbacks[0].keywords == {"kwargs": {"run_id": str(run.pk)}}


def test_verify_now_without_the_csrf_token_is_refused(client_for, auditor):
    # given
    client = client_for(auditor)
    client.handler.enforce_csrf_checks = True

    # when
    response = client.post("/audit/verify/")

    # then
    assert response.status_code == 403
    assert VerificationRun.objects.exists() is False


def test_verify_now_while_a_run_is_running_says_so(client_for, auditor):
    # given
    client = client_for(auditor)
    csrf_post(client, "/audit/verify/")

    # when
    response = csrf_post(client, "/audit/verify/")

    # then
    assert response.status_code == 409
    assert "A verification of the audit trail is already running." in response.content.decode()
    assert VerificationRun.objects.count() == 1
