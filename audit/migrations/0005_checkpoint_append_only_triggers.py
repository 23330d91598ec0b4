"""Make audit_auditcheckpoint append-only in the database, like the events (0002, 0003).

PostgreSQL: row triggers refuse UPDATE and DELETE, a statement trigger refuses TRUNCATE; no
setting lets anything through (the test suite drops the TRUNCATE trigger in its test database).
SQLite (demo only): UPDATE and DELETE refused.
"""

from django.db import migrations

POSTGRESQL_INSTALL = [
    """CREATE OR REPLACE FUNCTION audit_checkpoint_refuse_change() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'TRUNCATE' THEN
            RAISE EXCEPTION 'audit_auditcheckpoint is append-only: TRUNCATE refused';
        END IF;
        RAISE EXCEPTION 'audit_auditcheckpoint is append-only: % of checkpoint % refused',
            TG_OP, OLD.number
            USING HINT = 'Checkpoints are never changed or deleted.';
    END;
    $$""",
    """CREATE TRIGGER audit_checkpoint_no_update BEFORE UPDATE ON audit_auditcheckpoint
    FOR EACH ROW EXECUTE FUNCTION audit_checkpoint_refuse_change()""",
    """CREATE TRIGGER audit_checkpoint_no_delete BEFORE DELETE ON audit_auditcheckpoint
    FOR EACH ROW EXECUTE FUNCTION audit_checkpoint_refuse_change()""",
    """CREATE TRIGGER audit_checkpoint_no_truncate BEFORE TRUNCATE ON audit_auditcheckpoint
    FOR EACH STATEMENT EXECUTE FUNCTION audit_checkpoint_refuse_change()""",
]

POSTGRESQL_REMOVE = [
    "DROP TRIGGER IF EXISTS audit_checkpoint_no_truncate ON audit_auditcheckpoint",
    "DROP TRIGGER IF EXISTS audit_checkpoint_no_delete ON audit_auditcheckpoint",
    "DROP TRIGGER IF EXISTS audit_checkpoint_no_update ON audit_auditcheckpoint",
    "DROP FUNCTION IF EXISTS audit_checkpoint_refuse_change()",
]

SQLITE_INSTALL = [
    """CREATE TRIGGER audit_checkpoint_no_update BEFORE UPDATE ON audit_auditcheckpoint
    BEGIN SELECT RAISE(ABORT, 'audit_auditcheckpoint is append-only: UPDATE refused'); END""",
    """CREATE TRIGGER audit_checkpoint_no_delete BEFORE DELETE ON audit_auditcheckpoint
    BEGIN SELECT RAISE(ABORT, 'audit_auditcheckpoint is append-only: DELETE refused'); END""",
]

SQLITE_REMOVE = [
    "DROP TRIGGER IF EXISTS audit_checkpoint_no_delete",
    "DROP TRIGGER IF EXISTS audit_checkpoint_no_update",
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
    dependencies = [("audit", "0004_auditcheckpoint")]

    operations = [migrations.RunPython(install, remove, elidable=False)]
