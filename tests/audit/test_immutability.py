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


def test_truncate_is_refused_unless_the_test_database_allows_it(write_events):
    # given
    events = write_events(2)
    # when
    with (
        pytest.raises(ProgrammingError, match="audit_auditevent is append-only: TRUNCATE refused"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending FK checks: reach TRUNCATE
        cursor.execute("SET LOCAL keywarden.audit_allow_truncate = 'off'")
        cursor.execute("TRUNCATE audit_auditevent")
    # then
    assert _snapshot() == [(e.sequence, e.actor_label, e.after, e.hash) for e in events]


def test_only_the_test_database_allows_truncate(db):
    # given
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_database()")
        (name,) = cursor.fetchone()
        cursor.execute("SHOW keywarden.audit_allow_truncate")
        (setting,) = cursor.fetchone()
    # then
    assert name.startswith("test_")
    assert setting == "on"


@pytest.mark.django_db(transaction=True)
def test_test_database_setting_lets_truncate_through(write_events):
    # given: committed events (Django's flush after this test truncates the same way)
    write_events(2)
    # when
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("TRUNCATE audit_auditevent")
    # then
    assert AuditEvent.objects.count() == 0


def _snapshot() -> list[tuple]:
    return list(AuditEvent.objects.values_list("sequence", "actor_label", "after", "hash"))
