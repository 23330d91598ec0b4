"""Fixtures of the audit tests: events written through `record_event`, and tampering that
bypasses the database's triggers the way a superuser could."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from audit import Target
from audit.actions import Action
from audit.context import AuditContext
from audit.services import record_event


@pytest.fixture(autouse=True)
def fast_password_hasher(settings):
    """The fixture users' passwords hashed cheaply: PBKDF2 costs ~0.3 s per user."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def write_events(db):
    """`write_events(n, **record_event_kwargs)` → n events, each in its own atomic block."""

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
        return events

    return write


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
