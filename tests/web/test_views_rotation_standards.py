"""The rotation standards page: every role reads the standards with the keys each judges;
admins edit a class's standard or add a team override through `update_rotation_standard`;
bad input is reported on its field and kept; others are refused and nothing changes."""

from __future__ import annotations

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from keys.models import RotationStandard
from keys.services.compliance import refresh_compliance
from tests.factories import ManagedKeyFactory
from tests.web.conftest import csrf_post

LIST_URL = "/rotation/standards/"
NEW_OVERRIDE_URL = "/rotation/standards/overrides/new/"


@pytest.fixture
def judged_keys(payments_team, identity_team):
    """Two `active` keys (one per team) and one `standard` key, judged as a sync would."""
    ManagedKeyFactory(name="pay-a", team=payments_team, tags={"keywarden-class": "active"})
    ManagedKeyFactory(name="idn-a", team=identity_team, tags={"keywarden-class": "active"})
    ManagedKeyFactory(name="pay-s", team=payments_team)
    refresh_compliance(now=timezone.now())


def rows(response) -> list[tuple[str, str | None, str, str, int]]:
    return [
        (r.standard.key_class, r.standard.team and r.standard.team.slug, r.standard.max_age,
         r.standard.warn_before, r.key_count)
        for r in response.context["rows"]
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("_case", "role"),
    [("admin", "admin"), ("custodian", "custodian"), ("auditor", "auditor"),
     ("requester", "requester")],
)  # fmt: skip
def test_every_role_reads_the_standards_with_their_key_counts(
    _case, role, user_for_role, client_for, judged_keys
):
    # when
    response = client_for(user_for_role(role)).get(LIST_URL)

    # then
    assert response.status_code == 200
    assert rows(response) == [
        ("active", None, "P90D", "P30D", 2),
        ("standard", None, "P2Y", "P30D", 1),
    ]


def test_only_admins_see_the_edit_links(client_for, custodian, admin_user):
    custodian_html = client_for(custodian).get(LIST_URL).content.decode()
    admin_html = client_for(admin_user).get(LIST_URL).content.decode()
    assert 'href="/rotation/standards/active/"' not in custodian_html
    assert "Only admins edit rotation standards." in custodian_html
    assert 'href="/rotation/standards/active/"' in admin_html
    assert 'href="/rotation/standards/overrides/new/"' in admin_html


def test_a_user_without_a_role_is_refused(client_for, outsider):
    assert client_for(outsider).get(LIST_URL).status_code == 403


def test_admin_edits_a_class_standard(client_for, admin_user, judged_keys):
    # given
    client = client_for(admin_user)

    # when
    response = csrf_post(
        client, "/rotation/standards/active/", {"max_age": "P60D", "warn_before": "P14D"}
    )

    # then
    assert response.status_code == 302
    assert response["Location"] == LIST_URL
    standard = RotationStandard.objects.get(key_class="active", team=None)
    assert (standard.max_age, standard.warn_before) == ("P60D", "P14D")
    event = AuditEvent.objects.get(action="rotation_standard.updated")
    assert (event.actor_id, event.after["max_age"]) == (admin_user.pk, "P60D")


def test_the_edit_form_starts_from_the_current_standard(client_for, admin_user):
    response = client_for(admin_user).get("/rotation/standards/standard/")
    assert response.status_code == 200
    assert response.context["form"].initial == {"max_age": "P2Y", "warn_before": "P30D"}


def test_admin_adds_a_team_override_and_the_counts_follow(client_for, admin_user, judged_keys):
    # given
    client = client_for(admin_user)

    # when
    response = csrf_post(
        client,
        NEW_OVERRIDE_URL,
        {"key_class": "active", "team": "payments", "max_age": "P30D", "warn_before": "P7D"},
    )

    # then
    assert response.status_code == 302
    assert rows(client.get(LIST_URL)) == [
        ("active", None, "P90D", "P30D", 1),
        ("standard", None, "P2Y", "P30D", 1),
        ("active", "payments", "P30D", "P7D", 1),
    ]
    event = AuditEvent.objects.get(action="rotation_standard.updated")
    assert event.team.slug == "payments"


def test_admin_edits_a_team_override(client_for, admin_user, payments_team):
    # given
    client = client_for(admin_user)
    csrf_post(
        client,
        NEW_OVERRIDE_URL,
        {"key_class": "active", "team": "payments", "max_age": "P30D", "warn_before": "P7D"},
    )

    # when
    response = csrf_post(
        client, "/rotation/standards/active/payments/", {"max_age": "P45D", "warn_before": "P7D"}
    )

    # then
    assert response.status_code == 302
    override = RotationStandard.objects.get(key_class="active", team=payments_team)
    assert override.max_age == "P45D"
    assert RotationStandard.objects.get(key_class="active", team=None).max_age == "P90D"


@pytest.mark.parametrize(
    ("_case", "url", "data", "field", "message"),
    [
        ("not a duration", "/rotation/standards/active/",
         {"max_age": "90 days", "warn_before": "P30D"}, "max_age",
         "Must be an ISO-8601 duration such as P90D, P3M or P1Y."),
        ("warning as long as the age", "/rotation/standards/active/",
         {"max_age": "P30D", "warn_before": "P30D"}, "warn_before",
         "Must be shorter than max_age."),
        ("too long", "/rotation/standards/standard/",
         {"max_age": "P200Y", "warn_before": "P30D"}, "max_age", "Must be at most 100 years."),
        ("empty", "/rotation/standards/standard/",
         {"max_age": "", "warn_before": "P30D"}, "max_age", "This field is required."),
        ("unknown class", NEW_OVERRIDE_URL,
         {"key_class": "bogus", "team": "payments", "max_age": "P30D", "warn_before": "P7D"},
         "key_class", "Select a valid choice. bogus is not one of the available choices."),
        ("no team", NEW_OVERRIDE_URL,
         {"key_class": "active", "team": "", "max_age": "P30D", "warn_before": "P7D"},
         "team", "This field is required."),
        ("override with a bad duration", NEW_OVERRIDE_URL,
         {"key_class": "active", "team": "payments", "max_age": "P30X", "warn_before": "P7D"},
         "max_age", "Must be an ISO-8601 duration such as P90D, P3M or P1Y."),
    ],
)  # fmt: skip
def test_bad_input_is_reported_on_its_field_and_kept(
    _case, url, data, field, message, client_for, admin_user, payments_team
):
    # given
    client = client_for(admin_user)

    # when
    response = csrf_post(client, url, data)

    # then
    assert response.status_code == 400
    assert response.context["form"].errors[field] == [message]
    assert {name: response.context["form"][name].value() for name in data} == data
    assert RotationStandard.objects.filter(team__isnull=False).exists() is False
    assert RotationStandard.objects.filter(updated_at__isnull=False).exists() is False
    assert AuditEvent.objects.filter(action="rotation_standard.updated").exists() is False


@pytest.mark.parametrize(
    ("_case", "role", "url"),
    [
        ("custodian edits", "custodian", "/rotation/standards/active/"),
        ("auditor edits", "auditor", "/rotation/standards/active/"),
        ("requester adds an override", "requester", NEW_OVERRIDE_URL),
    ],
)
def test_only_admins_edit_standards(_case, role, url, user_for_role, client_for, payments_team):
    # given
    client = client_for(user_for_role(role))
    data = {"key_class": "active", "team": "payments", "max_age": "P1D", "warn_before": "PT1H"}

    # when
    page = client.get(url)
    response = csrf_post(client, url, data)

    # then
    assert (page.status_code, response.status_code) == (403, 403)
    assert "Only admins edit rotation standards." in response.content.decode()
    assert RotationStandard.objects.filter(max_age="P1D").exists() is False
    assert AuditEvent.objects.filter(action="rotation_standard.updated").exists() is False


@pytest.mark.parametrize(
    ("_case", "url"),
    [("no such class", "/rotation/standards/bogus/"),
     ("no such override", "/rotation/standards/active/payments/")],
)  # fmt: skip
def test_editing_what_does_not_exist_is_not_found(_case, url, client_for, admin_user):
    assert client_for(admin_user).get(url).status_code == 404
