"""Rotation standards: seeded, read by everyone, set by admins only (audited with before and
after), and every change re-judges the keys it applies to at once."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.roles import Role
from audit.models import AuditEvent
from keys.models import SEEDED_STANDARDS, ManagedKey, RotationStandard
from tests.factories import ManagedKeyFactory


@pytest.fixture
def standards(db):
    """The seeded rows (a transactional test's flush elsewhere may have removed them)."""
    for key_class, (max_age, warn_before) in SEEDED_STANDARDS.items():
        RotationStandard.objects.update_or_create(
            key_class=key_class,
            team=None,
            defaults={"max_age": max_age, "warn_before": warn_before},
        )


@pytest.fixture
def active_key(payments_team):
    """Tagged `active`, 40 days old: under P90D it has no rotation but is in time."""
    return ManagedKeyFactory(
        name="pay-active",
        team=payments_team,
        tags={"keywarden-class": "active"},
        current_version_created_on=timezone.now() - timedelta(days=40),
    )


def put(client, key_class: str, body: dict):
    return client.put(f"/api/v1/rotation-standards/{key_class}/", body, format="json")


def test_seeded_standards_are_listed_for_every_signed_in_user(standards, requester, api_client_for):
    # when
    response = api_client_for(requester).get("/api/v1/rotation-standards/")
    # then
    assert response.status_code == 200
    assert [
        (s["key_class"], s["team"], s["max_age"], s["warn_before"]) for s in response.json()
    ] == [("active", None, "P90D", "P30D"), ("standard", None, "P2Y", "P30D")]


def test_admin_edit_is_audited_and_rejudges_the_classes_keys(
    standards, active_key, admin_user, api_client_for
):
    # when
    response = put(api_client_for(admin_user), "active", {"max_age": "P30D", "warn_before": "P7D"})
    # then
    assert response.status_code == 200
    assert response.json()["max_age"] == "P30D"
    event = AuditEvent.objects.get(action="rotation_standard.updated")
    assert (event.actor_label, event.target_type, event.before, event.after) == (
        admin_user.username,
        "keys.rotationstandard",
        {"max_age": "P90D", "warn_before": "P30D"},
        {"key_class": "active", "max_age": "P30D", "warn_before": "P7D"},
    )
    active_key.refresh_from_db()
    assert (active_key.rotation_class, active_key.compliance_state) == ("active", "overdue")
    assert active_key.compliance_reason == (
        "Current version is 40 days old; the active class allows 30 days."
    )


def test_a_team_override_applies_to_that_teams_keys_only(
    standards, active_key, identity_team, admin_user, api_client_for
):
    # given
    other = ManagedKeyFactory(
        name="idn-active",
        team=identity_team,
        tags={"keywarden-class": "active"},
        current_version_created_on=active_key.current_version_created_on,
    )
    # when
    response = put(
        api_client_for(admin_user),
        "active",
        {"max_age": "P45D", "warn_before": "P14D", "team": "payments"},
    )
    # then
    assert response.status_code == 200
    assert response.json()["team"] == "payments"
    states = dict(ManagedKey.objects.values_list("name", "compliance_state"))
    assert states == {"pay-active": "due_soon", other.name: ""}
    assert RotationStandard.objects.get(key_class="active", team=None).max_age == "P90D"


@pytest.mark.parametrize(
    ("_case", "key_class", "body", "errors"),
    [
        (
            "not a duration",
            "active",
            {"max_age": "90 days", "warn_before": "P30D"},
            {"max_age": ["Must be an ISO-8601 duration such as P90D, P3M or P1Y."]},
        ),
        (
            "too long for a date",
            "active",
            {"max_age": "P999999999Y", "warn_before": "P30D"},
            {"max_age": ["Must be at most 100 years."]},
        ),
        (
            "digits of another script",
            "active",
            {"max_age": "P\u0669\u0660D", "warn_before": "P30D"},
            {"max_age": ["Must be an ISO-8601 duration such as P90D, P3M or P1Y."]},
        ),
        (
            "warning not shorter than the age",
            "active",
            {"max_age": "P30D", "warn_before": "P4W2D"},
            {"warn_before": ["Must be shorter than max_age."]},
        ),
        (
            "override of a class nobody defined",
            "nonesuch",
            {"max_age": "P30D", "warn_before": "P7D", "team": "payments"},
            {"key_class": ["No rotation class 'nonesuch' to override."]},
        ),
        (
            "unknown team",
            "active",
            {"max_age": "P30D", "warn_before": "P7D", "team": "nonesuch"},
            {"team": ["No team 'nonesuch'."]},
        ),
    ],
)
def test_invalid_standards_are_refused_with_field_errors(
    _case, key_class, body, errors, standards, payments_team, admin_user, api_client_for
):
    # given
    rows_before = list(RotationStandard.objects.values_list("key_class", "max_age"))
    # when
    response = put(api_client_for(admin_user), key_class, body)
    # then
    assert response.status_code == 400
    assert response.json()["errors"] == errors
    assert list(RotationStandard.objects.values_list("key_class", "max_age")) == rows_before
    assert AuditEvent.objects.filter(action="rotation_standard.updated").exists() is False


@pytest.mark.parametrize(
    ("_case", "role"),
    [("requester", Role.REQUESTER), ("custodian", Role.CUSTODIAN), ("auditor", Role.AUDITOR)],
)
def test_only_admins_edit_standards(
    _case, role, standards, active_key, user_for_role, api_client_for
):
    # given
    events_before = AuditEvent.objects.count()
    # when
    response = put(
        api_client_for(user_for_role(role)), "active", {"max_age": "P30D", "warn_before": "P7D"}
    )
    # then
    assert response.status_code == 403
    assert RotationStandard.objects.get(key_class="active", team=None).max_age == "P90D"
    assert RotationStandard.objects.count() == 2
    assert AuditEvent.objects.count() == events_before
    active_key.refresh_from_db()
    assert active_key.compliance_state == ""


def test_a_new_class_is_created_with_no_before(standards, admin_user, api_client_for):
    # when
    response = put(
        api_client_for(admin_user), "critical", {"max_age": "P30D", "warn_before": "P7D"}
    )
    # then
    assert response.status_code == 200
    assert AuditEvent.objects.get(action="rotation_standard.updated").before is None
    assert RotationStandard.objects.filter(key_class="critical", team=None).count() == 1


def test_an_unknown_class_is_not_found(standards, requester, api_client_for):
    response = api_client_for(requester).get("/api/v1/rotation-standards/nonesuch/")
    assert response.status_code == 404
