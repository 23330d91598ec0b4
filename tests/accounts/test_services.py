"""Access changes go through accounts.services and each one lands in the audit trail."""

import pytest

from accounts.models import Membership, RoleGrant, Team, User
from accounts.services import save_team, set_user_access
from audit.context import AuditContext
from audit.models import AuditEvent
from audit.services import seal_events
from core.errors import Invalid
from tests.factories import UserFactory

CTX = AuditContext.system("test")


def events_since(sequence: int) -> list[tuple]:
    seal_events()  # into the chain, as the writer's after-commit sealer does
    rows = AuditEvent.objects.filter(sequence__gt=sequence).order_by("sequence")
    return [(e.action, e.target_name, e.team_slug, e.before, e.after) for e in rows]


def head() -> int:
    seal_events()
    last = AuditEvent.objects.order_by("-sequence").first()
    return last.sequence if last else 0


def test_set_user_access_records_each_membership_and_role_change(payments_team, identity_team, db):
    # given
    user = UserFactory(username="zoe", access={"teams": [payments_team], "roles": ["auditor"]})
    start = head()
    # when
    set_user_access(user=user, teams=[identity_team], roles=["custodian"], ctx=CTX)
    # then
    assert events_since(start) == [
        ("team.member_removed", "zoe", "payments", {"team": "payments"}, None),
        ("team.member_added", "zoe", "identity", None, {"team": "identity"}),
        ("role.revoked", "zoe", "", {"role": "auditor"}, None),
        ("role.granted", "zoe", "", None, {"role": "custodian"}),
    ]
    assert sorted(user.roles) == ["custodian", "requester"]


def test_set_user_access_without_a_change_records_nothing(payments_team, db):
    user = UserFactory(username="zoe", access={"teams": [payments_team], "roles": ["auditor"]})
    start = head()
    set_user_access(user=user, teams=[payments_team], roles=["auditor"], ctx=CTX)
    assert events_since(start) == []


def test_set_user_access_refuses_a_role_that_is_not_granted_and_changes_nothing(payments_team, db):
    user = UserFactory(username="zoe", access={"teams": [payments_team]})
    start = head()
    with pytest.raises(ValueError, match="requester"):
        set_user_access(user=user, teams=[], roles=["requester"], ctx=CTX)
    assert list(Membership.objects.filter(user=user).values_list("team__slug", flat=True)) == [
        "payments"
    ]
    assert RoleGrant.objects.filter(user=user).exists() is False
    assert events_since(start) == []


def test_save_team_records_creation_then_only_the_changed_fields(db):
    start = head()
    save_team(slug="billing", name="Billing", key_prefix="bil-", ctx=CTX)
    save_team(slug="billing", name="Billing", key_prefix="bil-", ctx=CTX)  # no change
    team = save_team(slug="billing", name="Billing EU", key_prefix="bil-", ctx=CTX)
    assert (team.name, team.key_prefix) == ("Billing EU", "bil-")
    assert events_since(start) == [
        (
            "team.created",
            "Billing",
            "billing",
            None,
            {"slug": "billing", "name": "Billing", "key_prefix": "bil-", "entra_group_id": None},
        ),
        ("team.updated", "Billing EU", "billing", {"name": "Billing"}, {"name": "Billing EU"}),
    ]


def test_save_team_refuses_a_malformed_prefix_with_a_field_error_and_writes_nothing(db):
    start = head()
    with pytest.raises(Invalid) as refused:
        save_team(slug="billing", name="Billing", key_prefix="Bil", ctx=CTX)
    assert list(refused.value.errors) == ["key_prefix"]
    assert Team.objects.filter(slug="billing").exists() is False
    assert events_since(start) == []


@pytest.fixture
def superuser_client(client, db):
    client.force_login(User.objects.create_superuser("root", "root@example.com", "x"))
    return client


@pytest.mark.parametrize("model", ["user", "team"])
def test_django_admin_lists_accounts_but_cannot_add(model, superuser_client, payments_team):
    assert superuser_client.get(f"/admin/accounts/{model}/").status_code == 200
    assert superuser_client.get(f"/admin/accounts/{model}/add/").status_code == 403


def test_django_admin_cannot_change_a_team(superuser_client, payments_team):
    # given
    start = head()
    # when
    response = superuser_client.post(
        f"/admin/accounts/team/{payments_team.pk}/change/",
        {"name": "Hijacked", "slug": "payments", "key_prefix": "pay-"},
    )
    # then
    assert response.status_code == 403
    assert Team.objects.get(pk=payments_team.pk).name == "Payments"
    assert events_since(start) == []


@pytest.mark.parametrize("prefix", ["bil-\n", "\nbil-", "Bil-", "bil"])
def test_save_team_refuses_a_prefix_that_only_partly_matches(prefix, db):
    with pytest.raises(Invalid) as refused:
        save_team(slug="billing", name="Billing", key_prefix=prefix, ctx=CTX)
    assert list(refused.value.errors) == ["key_prefix"]
    assert Team.objects.filter(slug="billing").exists() is False
