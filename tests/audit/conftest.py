"""Fixtures of the audit tests: events written through `record_event`, and tampering that
bypasses the database's triggers the way a superuser could."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from audit import Target
from audit.actions import Action
from audit.context import AuditContext
from audit.services import record_event, seal_events


@pytest.fixture
def write_events(db):
    """`write_events(n, **record_event_kwargs)` → n events, each in its own atomic block,
    sealed into the chain right after it (as the writer's after-commit sealer does)."""

    def write(count: int, *, ctx=None, action=Action.TEAM_UPDATED, target=None, **kwargs):
        events = []
        for number in range(1, count + 1):
            with transaction.atomic():
                events.append(
                    record_event(
                        ctx or AuditContext.system("test"),
                        action,
                        target=target or Target("test.thing", str(number), f"thing {number}"),
                        **kwargs,
                    )
                )
            seal_events()
        for event in events:
            event.refresh_from_db()
        return events

    return write


@pytest.fixture
def verify_now(db):
    """`verify_now(full=False, chunk_size=5000)` → a verification run started and walked in this
    process, as the worker does it (without checkpoint anchors)."""
    from django.utils import timezone

    from audit.verification import run_verification, start_verification

    def run(*, full: bool = False, chunk_size: int = 5000):
        started = start_verification(now=timezone.now(), full=full)
        ctx = AuditContext.system("test")
        run = run_verification(run_id=started.pk, ctx=ctx, chunk_size=chunk_size)
        seal_events()  # its audit.verified event, as the worker's after-commit sealer does
        return run

    return run


@pytest.fixture
def tamper(db):
    """`tamper(sql, params)` runs SQL with triggers bypassed (superuser, replica role), as an
    attacker with database access would; PostgreSQL only."""

    def run(sql: str, params=()) -> int:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL session_replication_role = replica")
            cursor.execute(sql, params)
            affected = cursor.rowcount
            cursor.execute("SET LOCAL session_replication_role = origin")
        return affected

    return run


@pytest.fixture
def checkpoint_file(settings, tmp_path):
    """AUDIT_CHECKPOINT_FILE of this test (never the shared default)."""
    path = tmp_path / "audit" / "checkpoints.jsonl"
    settings.AUDIT_CHECKPOINT_FILE = str(path)
    return path


@pytest.fixture
def audit_signer(hsm, checkpoint_file):
    """The checkpoint key and the audit signer's role set up on the emptied emulator; the
    signer as the process builds it (HSM_AUDIT_PRINCIPAL_ID)."""
    from keys.gateway import get_audit_signer
    from keys.services.bootstrap import bootstrap_audit_signer

    bootstrap_audit_signer(admin_gateway=hsm.admin, key_manager_gateway=hsm.keywarden)
    return get_audit_signer()


@pytest.fixture
def checkpoint(audit_signer, django_capture_on_commit_callbacks):
    """`checkpoint()` → a checkpoint of the current head, signed in the HSM, in table and file."""
    from django.utils import timezone

    from keys.services.audit_checkpoints import checkpoint_audit_trail

    def sign(now=None):
        with django_capture_on_commit_callbacks(execute=True):
            return checkpoint_audit_trail(now=now or timezone.now(), force=True)

    return sign
