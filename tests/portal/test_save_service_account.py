"""`manage.py save_service_account`: registers an Entra ID application as a service account."""

import io
import uuid

import pytest
from django.core.management import CommandError, call_command

from accounts.models import User
from audit.models import AuditEvent
from audit.services import seal_events
from tests.factories import UserFactory

OBJECT_ID = "3f70d177-1599-4f15-a48e-54cf4dff08da"


def save(*args: str) -> str:
    out = io.StringIO()
    call_command("save_service_account", "--object-id", OBJECT_ID, *args, stdout=out)
    return out.getvalue()


def test_creates_service_account_with_team_and_role_audited(payments_team):
    # when
    output = save("--name", "svc-pay", "--team", "payments", "--role", "auditor")
    # then
    account = User.objects.get(entra_object_id=uuid.UUID(OBJECT_ID))
    assert (account.username, account.is_service_account, account.has_usable_password()) == (
        "svc-pay",
        True,
        False,
    )
    assert account.roles == {"requester", "auditor"}
    assert "Service account svc-pay" in output
    events = AuditEvent.objects.order_by("sequence")
    assert [(e.action, e.actor_label) for e in events] == [
        ("service_account.created", "manage.py save_service_account"),
        ("team.member_added", "manage.py save_service_account"),
        ("role.granted", "manage.py save_service_account"),
    ]


def test_saving_again_changes_only_what_differs(payments_team):
    # given
    save("--name", "svc-pay", "--team", "payments")
    events_before = AuditEvent.objects.count()
    # when
    save("--name", "svc-pay", "--team", "payments", "--disable")
    # then
    seal_events()  # into the chain, as the writer's after-commit sealer does
    event = AuditEvent.objects.get(sequence__gt=events_before)
    assert (event.action, event.before, event.after) == (
        "service_account.updated",
        {"is_active": True},
        {"is_active": False},
    )
    assert User.objects.get(username="svc-pay").is_active is False


def test_refuses_the_object_id_of_a_user(db):
    # given
    UserFactory(username="alice", entra_object_id=uuid.UUID(OBJECT_ID))
    # when / then
    with pytest.raises(CommandError, match="belongs to a user, not a service account"):
        save("--name", "svc-pay")
    assert AuditEvent.objects.count() == 0


def test_refuses_an_unknown_team(db):
    with pytest.raises(CommandError, match="No such team: nope"):
        save("--name", "svc-pay", "--team", "nope")
    assert User.objects.filter(username="svc-pay").exists() is False


def test_refuses_a_taken_username(requester):
    with pytest.raises(CommandError, match="username"):
        save("--name", "alice")
    assert AuditEvent.objects.count() == 0
