"""The database itself refuses to change or remove audit events (PostgreSQL triggers)."""

import pytest
from django.db import ProgrammingError, connection, transaction

from audit.models import AuditEvent

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the append-only triggers are PostgreSQL's"
)


@pytest.mark.parametrize(
    ("_case", "sql", "message"),
    [
        (
            "update",
            "UPDATE audit_auditevent SET after = '{}' WHERE sequence = 2",
            "UPDATE of audit event 2",
        ),
        ("update all", "UPDATE audit_auditevent SET actor_label = 'x'", "UPDATE of audit event 1"),
        ("delete", "DELETE FROM audit_auditevent WHERE sequence = 2", "DELETE of audit event 2"),
        ("delete all", "DELETE FROM audit_auditevent", "DELETE of audit event 1"),
    ],
)
def test_raw_sql_cannot_change_events(_case, sql, message, write_events):
    # given
    events = write_events(3, after={"state": "approved"})
    # when
    with (
        pytest.raises(
            ProgrammingError, match=f"audit_auditevent is append-only: {message} refused"
        ),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql)
    # then
    assert _snapshot() == [(e.sequence, e.actor_label, e.after, e.hash) for e in events]


def test_orm_update_is_refused(write_events):
    # given
    events = write_events(2)
    # when
    with (
        pytest.raises(ProgrammingError, match="append-only: UPDATE of audit event 1 refused"),
        transaction.atomic(),
    ):
        AuditEvent.objects.filter(sequence=1).update(action="auth.login")
    # then
    assert _snapshot() == [(e.sequence, e.actor_label, e.after, e.hash) for e in events]


# The test database has no TRUNCATE trigger (tests/conftest.py): re-created here, inside the
# transaction the refusal rolls back, exactly as migrations 0002 and 0003 make it.
RECREATE_TRUNCATE_TRIGGER = """CREATE TRIGGER audit_event_no_truncate
    BEFORE TRUNCATE ON audit_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION audit_event_refuse_truncate()"""


@pytest.mark.parametrize(
    ("_case", "setting"),
    [
        ("no setting", None),
        (
            "the setting the first trigger trusted",
            "SET LOCAL keywarden.audit_allow_truncate = 'on'",
        ),
        ("any other setting", "SET LOCAL keywarden.allow_anything = 'on'"),
    ],
)
def test_truncate_is_refused_whatever_the_session_sets(_case, setting, write_events):
    # given
    events = write_events(2)
    # when
    with (
        pytest.raises(ProgrammingError, match="audit_auditevent is append-only: TRUNCATE refused"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(RECREATE_TRUNCATE_TRIGGER)
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending FK checks: reach TRUNCATE
        cursor.execute(setting or "SELECT 1")
        cursor.execute("TRUNCATE audit_auditevent")
    # then
    assert _snapshot() == [(e.sequence, e.actor_label, e.after, e.hash) for e in events]


def test_only_the_test_database_lacks_the_truncate_trigger(db):
    # given
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_database()")
        (name,) = cursor.fetchone()
        cursor.execute(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'audit_auditevent'::regclass "
            "AND NOT tgisinternal ORDER BY tgname"
        )
        triggers = [row[0] for row in cursor.fetchall()]
    # then
    assert name.startswith("test_")
    assert triggers == ["audit_event_no_delete", "audit_event_no_update"]


@pytest.mark.django_db(transaction=True)
def test_test_database_without_the_trigger_lets_truncate_through(write_events):
    # given: committed events (Django's flush after this test truncates the same way)
    write_events(2)
    # when
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("TRUNCATE audit_auditevent")
    # then
    assert AuditEvent.objects.count() == 0


def _snapshot() -> list[tuple]:
    return list(AuditEvent.objects.values_list("sequence", "actor_label", "after", "hash"))
