"""Make audit_auditevent append-only in the database itself.

PostgreSQL:
* row triggers BEFORE UPDATE and BEFORE DELETE raise an exception: always, for every role
  the triggers apply to (only a superuser bypassing triggers, e.g. with
  `SET session_replication_role = replica`, gets past them — and the hash chain shows it);
* a statement trigger BEFORE TRUNCATE raises too. (As first written it let a session through
  that set `keywarden.audit_allow_truncate`; migration 0003 removed that: no setting allows it.)
In production the app's database role holds only SELECT and INSERT on this table (README).

SQLite (demo only): triggers with RAISE(ABORT) refuse UPDATE and DELETE (SQLite has no
TRUNCATE; Django's flush deletes, so the test suite drops the DELETE trigger in its SQLite
test database).
"""

from django.db import migrations

POSTGRESQL_INSTALL = [
    """CREATE OR REPLACE FUNCTION audit_event_refuse_change() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'audit_auditevent is append-only: % of audit event % refused',
            TG_OP, OLD.sequence
            USING HINT = 'Audit events are never changed or deleted; record a new event.';
    END;
    $$""",
    """CREATE OR REPLACE FUNCTION audit_event_refuse_truncate() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF current_setting('keywarden.audit_allow_truncate', true) = 'on' THEN
            RETURN NULL;
        END IF;
        RAISE EXCEPTION 'audit_auditevent is append-only: TRUNCATE refused'
            USING HINT = 'Only a test database sets keywarden.audit_allow_truncate = on.';
    END;
    $$""",
    """CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION audit_event_refuse_change()""",
    """CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION audit_event_refuse_change()""",
    """CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION audit_event_refuse_truncate()""",
]

POSTGRESQL_REMOVE = [
    "DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_auditevent",
    "DROP TRIGGER IF EXISTS audit_event_no_delete ON audit_auditevent",
    "DROP TRIGGER IF EXISTS audit_event_no_update ON audit_auditevent",
    "DROP FUNCTION IF EXISTS audit_event_refuse_truncate()",
    "DROP FUNCTION IF EXISTS audit_event_refuse_change()",
]

SQLITE_INSTALL = [
    """CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_auditevent
    BEGIN SELECT RAISE(ABORT, 'audit_auditevent is append-only: UPDATE refused'); END""",
    """CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_auditevent
    BEGIN SELECT RAISE(ABORT, 'audit_auditevent is append-only: DELETE refused'); END""",
]

SQLITE_REMOVE = [
    "DROP TRIGGER IF EXISTS audit_event_no_delete",
    "DROP TRIGGER IF EXISTS audit_event_no_update",
]


def install(apps, schema_editor):
    statements = {"postgresql": POSTGRESQL_INSTALL, "sqlite": SQLITE_INSTALL}
    for statement in statements.get(schema_editor.connection.vendor, []):
        schema_editor.execute(statement, params=None)


def remove(apps, schema_editor):
    statements = {"postgresql": POSTGRESQL_REMOVE, "sqlite": SQLITE_REMOVE}
    for statement in statements.get(schema_editor.connection.vendor, []):
        schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]

    operations = [migrations.RunPython(install, remove, elidable=False)]
