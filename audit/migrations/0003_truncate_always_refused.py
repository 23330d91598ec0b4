"""TRUNCATE of audit_auditevent is refused always: no session or database setting lets it through.

Migration 0002's TRUNCATE function let any session through that ran
`SET LOCAL keywarden.audit_allow_truncate = 'on'` — and any session may set a custom setting.
This one replaces the function's body. The test suite, whose flush TRUNCATEs every table, drops
the TRUNCATE trigger in its own test database instead (tests/conftest.py); only the table's
owner or a superuser can drop or disable a trigger, and the app's role is neither (README).
"""

from django.db import migrations

REFUSE_ALWAYS = """CREATE OR REPLACE FUNCTION audit_event_refuse_truncate() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'audit_auditevent is append-only: TRUNCATE refused'
            USING HINT = 'Audit events are never removed; no setting allows TRUNCATE.';
    END;
    $$"""

# 0002's body, for unapplying only.
REFUSE_UNLESS_SETTING = """CREATE OR REPLACE FUNCTION audit_event_refuse_truncate() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        IF current_setting('keywarden.audit_allow_truncate', true) = 'on' THEN
            RETURN NULL;
        END IF;
        RAISE EXCEPTION 'audit_auditevent is append-only: TRUNCATE refused'
            USING HINT = 'Only a test database sets keywarden.audit_allow_truncate = on.';
    END;
    $$"""


def install(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(REFUSE_ALWAYS, params=None)


def remove(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(REFUSE_UNLESS_SETTING, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_append_only_triggers")]

    operations = [migrations.RunPython(install, remove, elidable=False)]
