"""Code that runs in separate processes (spawned) for the concurrency tests."""

from __future__ import annotations

import os


def write_events_in_process(env: dict[str, str], barrier, label: str, count: int) -> None:
    """Set up Django against the test database in `env`, wait for the others, then append
    `count` events, each in its own transaction (as the workflow does)."""
    os.environ.update(env)
    import django

    django.setup()
    from django.db import connection, transaction

    from audit import Target
    from audit.actions import Action
    from audit.context import AuditContext
    from audit.services import record_event

    ctx = AuditContext.system(label)
    barrier.wait(timeout=60)
    for number in range(count):
        with transaction.atomic():
            record_event(ctx, Action.TEAM_UPDATED, target=Target("test.thing", str(number), label))
    connection.close()
