"""Forms that change a key start from its current values and send only what the user changed;
the preview and the request page show current → requested (templates/approvals/_changes.html);
an unmanaged key's page offers adoption."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from uuid import uuid4

import pytest

from keys.models import ManagedKey, RotationSchedule
from tests.factories import ManagedKeyFactory
from tests.web.conftest import csrf_post, submit

EXPIRES = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def key(payments_team):
    return ManagedKeyFactory(
        name="pay-diff",
        team=payments_team,
        expires_on=EXPIRES,
        tags={"owner": "checkout", "keywarden-class": "active"},
        rotation_policy={
            "lifetime_actions": [
                {"action": "Rotate", "time_after_create": "P90D"},
                {"action": "Notify", "time_before_expiry": "P30D"},
            ],
            "expiry_time": "P1Y",
        },
    )


def rows_of(html: str, table: str) -> list[tuple[str, ...]]:
    """(field, cell texts…) of each row of one changes table, tags stripped."""
    body = html.split(f'id="{table}"')[1].split("</table>")[0]
    found = re.findall(r'<tr class="\w+" data-field="(\w+)">(.*?)</tr>', body, re.S)
    return [
        (
            field,
            *(
                re.sub(r"<[^>]+>", "", cell).strip()
                for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", cells, re.S)
            ),
        )
        for field, cells in found
    ]


def test_update_form_starts_from_the_current_values(client_for, requester, key):
    response = client_for(requester).get("/requests/new/key.update/?team=payments&name=pay-diff")
    assert response.context["form"].initial == {
        "team": "payments",
        "name": "pay-diff",
        "enabled": "true",
        "expires_on": "2027-03-01T12:00:00",
        "key_ops": ["sign", "verify"],
        "tags": "owner=checkout",  # the reserved class tag has no input
    }


def test_policy_form_starts_from_the_current_policy(client_for, requester, key):
    response = client_for(requester).get(
        "/requests/new/key.set_rotation_policy/?team=payments&name=pay-diff"
    )
    assert response.context["form"].initial == {
        "team": "payments",
        "name": "pay-diff",
        "rotation_trigger": "time_after_create",
        "rotation_period": "P90D",
        "rotation_expiry_time": "P1Y",
        "rotation_notify": "P30D",
    }


def test_another_teams_key_fills_in_nothing(client_for, requester, identity_team):
    ManagedKeyFactory(name="idn-secret", team=identity_team, tags={"owner": "identity"})
    response = client_for(requester).get("/requests/new/key.update/?team=payments&name=idn-secret")
    assert response.context["form"].initial == {"team": "payments", "name": "idn-secret"}


def test_update_sends_only_what_changed_and_previews_the_diff(client_for, requester, key):
    # given: the form as the browser posts it back, prefilled values untouched but one
    form = {
        "team": "payments",
        "name": "pay-diff",
        "enabled": "false",
        "expires_on": "2027-03-01T12:00:00",
        "key_ops": ["sign", "verify"],
        "tags": "owner=checkout",
        "justification": "Retired.",
    }
    # when
    response = csrf_post(client_for(requester), "/requests/new/key.update/", form)
    # then
    assert response.status_code == 200
    assert response.context["draft"].params == {"name": "pay-diff", "enabled": False}
    html = response.content.decode()
    assert rows_of(html, "changed-fields") == [("enabled", "Enabled", "yes", "no")]
    assert rows_of(html, "unchanged-fields") == [
        ("not_before", "Not before", "—"),
        ("expires_on", "Expires on", "2027-03-01T12:00:00+00:00"),
        ("key_ops", "Key operations", "sign, verify"),
        ("tags", "Tags", "keywarden-class=active, owner=checkout"),
    ]
    assert 'id="changed-since"' not in html


def test_request_page_shows_the_captured_diff_and_flags_a_key_changed_since(
    client_for, requester, custodian, key
):
    # given
    change = submit(requester, "key.update", params={"name": "pay-diff", "tags": {"owner": "x"}})
    ManagedKey.objects.filter(name="pay-diff").update(enabled=False)
    # when
    html = client_for(custodian).get(f"/requests/{change.pk}/").content.decode()
    # then
    assert rows_of(html, "changed-fields") == [
        (
            "tags",
            "Tags",
            "keywarden-class=active, owner=checkout",
            "keywarden-class=active, owner=x",
        )
    ]
    assert ("enabled", "Enabled changed since", "yes") in rows_of(html, "unchanged-fields")
    warning = re.sub(r"<[^>]+>", "", html.split('id="changed-since">')[1].split("</p>")[0])
    assert warning == (
        "The key changed since this request was submitted: Enabled now differs from what the "
        "requester saw. Check the key before you decide."
    )


@pytest.mark.parametrize(
    ("_case", "who", "name", "shown"),
    [
        ("member, unmanaged key", "requester", "pay-found", "button"),
        ("admin, unmanaged key", "admin_user", "pay-found", "button"),
        ("custodian, unmanaged key", "custodian", "pay-found", "hint"),
        ("admin, key of no team", "admin_user", "nobody-found", "no team"),
        ("member, managed key", "requester", "pay-managed", "nothing"),
    ],
)
def test_key_page_offers_adoption_of_an_unmanaged_key(
    _case, who, name, shown, request, client_for, payments_team
):
    # given
    ManagedKeyFactory(name="pay-found", team=payments_team, last_applied=None)
    ManagedKeyFactory(name="nobody-found", last_applied=None)
    ManagedKeyFactory(name="pay-managed", team=payments_team)
    # when
    html = client_for(request.getfixturevalue(who)).get(f"/keys/{name}/").content.decode()
    # then
    found = {
        "button": 'href="/requests/new/key.adopt/?team=payments&amp;name=pay-found"' in html,
        "hint": "Admins and members of team Payments can ask to adopt it." in html,
        "no team": "No team's key prefix matches this name, so no team can adopt it." in html,
        "nothing": 'id="adopt"' not in html,
    }
    assert [what for what, present in found.items() if present] == [shown]


def test_schedule_form_starts_from_the_current_schedule(client_for, requester, key):
    RotationSchedule.objects.create(
        key=key,
        cadence="P90D",
        mode="each_time",
        window_weekdays=[5, 6],
        window_start_hour=22,
        window_hours=4,
        retire_previous_after="P7D",
        approved_by=uuid4(),
        approved_payload_hash="0" * 64,
        created_at=EXPIRES,
        next_run_on=EXPIRES,
    )
    response = client_for(requester).get(
        "/requests/new/key.set_rotation_schedule/?team=payments&name=pay-diff"
    )
    assert response.context["form"].initial == {
        "team": "payments",
        "name": "pay-diff",
        "cadence": "P90D",
        "mode": "each_time",
        "retire_previous_after": "P7D",
        "window_weekdays": [5, 6],
        "window_start_hour_utc": 22,
        "window_hours": 4,
    }
