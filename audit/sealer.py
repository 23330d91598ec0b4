"""The audit sealer: one long-running loop that chains committed events soon after commit.

Writers never seal: their INSERT also sends `NOTIFY audit_unsealed`, which PostgreSQL delivers
when they commit. The sealer LISTENs on its own connection and, woken by a notification (or
after `poll_seconds` without one), seals the whole backlog in `id` order (`seal_events`).
Exactly one leads at a time: it holds the session advisory lock `SEALER_LOCK_KEY` while it runs;
others stand by and try again every `poll_seconds`, so one takes over within that when the
leader dies (the end of its connection releases the lock). Each batch still takes the chain
lock, so the beat backstop and explicit seals never interleave with it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import psycopg
from django.db import DatabaseError, connections, router

from audit.models import AuditEvent
from audit.services import NOTIFY_CHANNEL, seal_events

logger = logging.getLogger(__name__)

# pg_advisory_lock key the leading sealer holds for its lifetime ("KWSEALR" in ASCII).
SEALER_LOCK_KEY = 0x4B_57_53_45_41_4C_52
# After a wake-up, how long more commits may gather into the same round (the lag it adds).
GATHER_SECONDS = 0.02
# The longest the loop waits without looking at `stop` and `alive`.
STOP_CHECK_SECONDS = 0.5


def run_sealer(
    *,
    stop: threading.Event,
    poll_seconds: float,
    alive: Callable[[], bool] = lambda: True,
    on_lead: Callable[[], None] = lambda: None,
) -> None:
    """Lead, or stand by to lead, until `stop` is set or `alive()` turns false; a lost
    connection is logged and reopened after `poll_seconds`. `on_lead` runs once the lock is
    held. PostgreSQL only: on another database it returns at once (SQLite seals at insert)."""
    connection = connections[router.db_for_write(AuditEvent)]
    if connection.vendor != "postgresql":
        return
    try:
        while not stop.is_set() and alive():
            try:
                _lead(connection, stop, poll_seconds, alive, on_lead)
            except (DatabaseError, psycopg.Error) as exc:  # a restart, a cut connection
                logger.warning("audit.sealer.disconnected", extra={"error": str(exc)})
                connection.close()
                stop.wait(poll_seconds)
    finally:
        connection.close()  # releases the lead


def _lead(connection, stop, poll_seconds, alive, on_lead) -> None:
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute(f"LISTEN {NOTIFY_CHANNEL}")
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [SEALER_LOCK_KEY])
        while not cursor.fetchone()[0]:
            if _wait(stop, alive, poll_seconds):
                return
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [SEALER_LOCK_KEY])
    logger.info("audit.sealer.leading")
    on_lead()
    raw = connection.connection
    while not stop.is_set() and alive():
        sealed = seal_events(wait=True)
        if sealed:
            logger.debug("audit.sealer.sealed", extra={"events": sealed})
        if _wait_for_commits(raw, stop, alive, poll_seconds):
            return


def _wait_for_commits(raw, stop, alive, poll_seconds: float) -> bool:
    """Until a writer's notification (then `GATHER_SECONDS` more, and every pending one taken:
    one round seals them all) or `poll_seconds`; True when the loop should end."""
    deadline = time.monotonic() + poll_seconds
    while (remaining := deadline - time.monotonic()) > 0:
        if stop.is_set() or not alive():
            return True
        timeout = min(remaining, STOP_CHECK_SECONDS)
        if any(True for _ in raw.notifies(timeout=timeout, stop_after=1)):
            time.sleep(GATHER_SECONDS)
            for _ in raw.notifies(timeout=0):
                pass
            break
    return stop.is_set() or not alive()


def _wait(stop: threading.Event, alive: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while (remaining := deadline - time.monotonic()) > 0:
        if stop.wait(min(remaining, STOP_CHECK_SECONDS)) or not alive():
            return True
    return stop.is_set() or not alive()
