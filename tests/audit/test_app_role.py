"""The app's least-privilege database role (README, `manage.py grant_app_role`) cannot change or
remove audit events or checkpoints, whatever it runs: a real role, a real connection."""

import io
import uuid

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection, transaction

from audit import Target
from audit.actions import Action
from audit.chain_selectors import verify_chain
from audit.context import AuditContext
from audit.models import AuditEvent
from audit.services import CHAIN_LOCK_KEY, _seal_batch, record_event

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="database roles: PostgreSQL"),
    pytest.mark.django_db(transaction=True),  # the role's own connection sees committed rows
]
PASSWORD = "app-role-test-password"


@pytest.fixture
def app_role(db):
    """A LOGIN role granted what the app gets; dropped (with its grants) afterwards."""
    role = f"kw_app_{uuid.uuid4().hex[:8]}"
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE ROLE {role} LOGIN PASSWORD %s", [PASSWORD])
    call_command("grant_app_role", role, stdout=io.StringIO())
    yield role
    with connection.cursor() as cursor:
        cursor.execute(f"DROP OWNED BY {role}")
        cursor.execute(f"DROP ROLE {role}")


@pytest.fixture
def app_connection(app_role):
    """psycopg, connected to the test database as the app role."""
    settings = connection.settings_dict
    with psycopg.connect(
        host=settings["HOST"] or "localhost",
        port=settings["PORT"] or 5432,
        dbname=settings["NAME"],
        user=app_role,
        password=PASSWORD,
        autocommit=True,
    ) as app:
        yield app


@pytest.mark.parametrize(
    ("_case", "statements", "message"),
    [
        ("update", ["UPDATE audit_auditevent SET actor_label = 'x'"], "permission denied"),
        ("delete", ["DELETE FROM audit_auditevent WHERE sequence = 3"], "permission denied"),
        ("truncate", ["TRUNCATE audit_auditevent"], "permission denied"),
        (
            "truncate after the setting the first trigger trusted",
            ["SET keywarden.audit_allow_truncate = 'on'", "TRUNCATE audit_auditevent"],
            "permission denied",
        ),
        (
            "disable the triggers",
            ["ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_no_delete"],
            "must be owner of table audit_auditevent",
        ),
        (
            "drop a trigger",
            ["DROP TRIGGER audit_event_no_update ON audit_auditevent"],
            "must be owner of relation audit_auditevent",
        ),
        (
            "bypass triggers as a replica",
            ["SET session_replication_role = replica"],
            'permission denied to set parameter "session_replication_role"',
        ),
        ("delete checkpoints", ["DELETE FROM audit_auditcheckpoint"], "permission denied"),
        ("truncate checkpoints", ["TRUNCATE audit_auditcheckpoint"], "permission denied"),
    ],
)
def test_app_role_cannot_change_or_remove_events(
    _case, statements, message, app_connection, write_events
):
    # given
    events = write_events(3)
    # when
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match=message):
        for statement in statements:
            app_connection.execute(statement)
    # then
    assert _snapshot() == [(e.sequence, e.actor_label, e.hash) for e in events]


def test_app_role_may_only_read_and_append_the_audit_tables(app_role, db):
    # when
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT t, p FROM unnest(%s::text[]) AS t, unnest(%s::text[]) AS p "
            "WHERE has_table_privilege(%s, t, p) ORDER BY t, p",
            [
                ["audit_auditevent", "audit_auditcheckpoint"],
                ["SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"],
                app_role,
            ],
        )
        granted = cursor.fetchall()
        cursor.execute("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = %s", [app_role])
        attributes = cursor.fetchone()
    # then
    assert granted == [
        ("audit_auditcheckpoint", "INSERT"),
        ("audit_auditcheckpoint", "SELECT"),
        ("audit_auditevent", "INSERT"),
        ("audit_auditevent", "SELECT"),
    ]  # and UPDATE of the sealed columns only: test_app_role_may_seal_events_and_nothing_more
    assert attributes == (False, False)


def test_app_role_may_seal_events_and_nothing_more(app_connection, write_events):
    # given: one sealed event, one committed unsealed (the app role holds the chain lock, so
    # the writer's after-commit try leaves it)
    write_events(1)
    with app_connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", [CHAIN_LOCK_KEY])
        with transaction.atomic():
            record_event(
                AuditContext.system("w"), Action.TEAM_UPDATED, target=Target("t", "2", "n")
            )
        # when: the app role seals, with the sealer's own batch, under the chain lock
        sealed = _seal_batch(cursor, 10)
        cursor.execute("SELECT pg_advisory_unlock(%s)", [CHAIN_LOCK_KEY])
    # then
    assert sealed == 1
    assert verify_chain().as_dict()["head"]["sequence"] == 2
    with pytest.raises(psycopg.errors.RaiseException, match="UPDATE of audit event 2 refused"):
        app_connection.execute("UPDATE audit_auditevent SET hash = prev_hash WHERE sequence = 2")
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
        app_connection.execute("UPDATE audit_auditevent SET target_name = 'x' WHERE sequence = 2")


def test_app_role_reads_the_trail(app_connection, write_events):
    # given
    events = write_events(2)
    # when
    rows = app_connection.execute(
        "SELECT sequence, hash FROM audit_auditevent ORDER BY sequence"
    ).fetchall()
    # then
    assert rows == [(e.sequence, e.hash) for e in events]


def _snapshot() -> list[tuple]:
    return list(AuditEvent.objects.values_list("sequence", "actor_label", "hash"))
