"""The application's PostgreSQL role: what it may do, granted by the owner after migrations.

Migrations run as the owner of the schema; web, workers and beat connect as a role that may read
and write the app's tables but only SELECT and INSERT the audit tables (plus UPDATE of the three
columns the sealer fills, which the trigger lets through only as a seal): no other UPDATE, no
DELETE or TRUNCATE, and — not being the owner or a superuser — no ALTER TABLE … DISABLE
TRIGGER, no DROP TRIGGER, no `SET session_replication_role`. Run `manage.py grant_app_role
<role>` as the owner after every `migrate` (new tables need their grants).
"""

from __future__ import annotations

from django.db import connection

# The append-only tables (audit.models): the app role may only read and append.
APPEND_ONLY_TABLES = ("audit_auditevent", "audit_auditcheckpoint")
# The columns an unsealed event gets when it is sealed into the chain, once (migration 0007).
SEAL_COLUMNS = ("sequence", "prev_hash", "hash")


def app_role_statements(role: str) -> list[str]:
    """The GRANT/REVOKE statements for `role` on this database, in order (README shows them)."""
    quote = connection.ops.quote_name
    who, database = quote(role), quote(connection.settings_dict["NAME"])
    append_only = ", ".join(quote(table) for table in APPEND_ONLY_TABLES)
    return [
        f"GRANT CONNECT ON DATABASE {database} TO {who}",
        f"GRANT USAGE ON SCHEMA public TO {who}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {who}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {who}",
        f"REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON {append_only} FROM {who}",
        # The sealer's one update (audit.services.seal_events); the trigger refuses any other.
        f"GRANT UPDATE ({', '.join(SEAL_COLUMNS)}) ON {quote('audit_auditevent')} TO {who}",
    ]


def grant_app_role(role: str) -> list[str]:
    """Grant `role` what the app needs (run as the schema's owner). Returns the statements.
    Raises ValueError on SQLite, which has no roles."""
    if connection.vendor != "postgresql":
        raise ValueError("database roles exist on PostgreSQL only")
    statements = app_role_statements(role)
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)
    return statements
