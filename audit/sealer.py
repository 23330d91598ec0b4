"""The audit sealer: one long-running loop that chains committed events soon after commit.

Writers never seal and never notify (a NOTIFY would serialise their commits). The leading
sealer looks for committed unsealed events every `look_seconds` on its own connection (one
EXISTS on the partial index of unsealed rows: a few microseconds of the database's time) and,
when there are some, seals the whole backlog in `id` order (`seal_events`). Exactly one leads
at a time: it holds the session advisory lock `SEALER_LOCK_KEY` while it runs;
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
from audit.services import has_unsealed, seal_events

logger = logging.getLogger(__name__)

# pg_advisory_lock key the leading sealer holds for its lifetime ("KWSEALR" in ASCII).
SEALER_LOCK_KEY = 0x4B_57_53_45_41_4C_52
# The longest the loop waits without looking at `stop` and `alive`.
STOP_CHECK_SECONDS = 0.5


def run_sealer(
    *,
    stop: threading.Event,
    poll_seconds: float,
    look_seconds: float,
    alive: Callable[[], bool] = lambda: True,
    on_lead: Callable[[], None] = lambda: None,
) -> None:
    """Lead, or stand by to lead, until `stop` is set or `alive()` turns false: a standby tries
    to lead every `poll_seconds`, the leader looks for unsealed events every `look_seconds`; a
    lost connection is logged and reopened after `poll_seconds`. `on_lead` runs once the lock is
    held. PostgreSQL only: on another database it returns at once (SQLite seals at insert)."""
    connection = connections[router.db_for_write(AuditEvent)]
    if connection.vendor != "postgresql":
        return
    try:
        while not stop.is_set() and alive():
            try:
                _lead(connection, stop, poll_seconds, look_seconds, alive, on_lead)
            except (DatabaseError, psycopg.Error) as exc:  # a restart, a cut connection
                logger.warning("audit.sealer.disconnected", extra={"error": str(exc)})
                connection.close()
                stop.wait(poll_seconds)
    finally:
        connection.close()  # releases the lead


def _lead(connection, stop, poll_seconds, look_seconds, alive, on_lead) -> None:
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [SEALER_LOCK_KEY])
        while not cursor.fetchone()[0]:
            if _wait(stop, alive, poll_seconds):
                return
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [SEALER_LOCK_KEY])
    logger.info("audit.sealer.leading")
    on_lead()
    while not stop.is_set() and alive():
        sealed = seal_events(wait=True)
        if sealed:
            logger.debug("audit.sealer.sealed", extra={"events": sealed})
        if _wait_for_unsealed(connection, stop, alive, look_seconds):
            return


def _wait_for_unsealed(connection, stop, alive, look_seconds: float) -> bool:
    """Until a committed event waits for its seal, looking every `look_seconds`; True when the
    loop should end instead."""
    with connection.cursor() as cursor:
        while not stop.is_set() and alive():
            if has_unsealed(cursor):
                return False
            stop.wait(look_seconds)
    return True


def _wait(stop: threading.Event, alive: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while (remaining := deadline - time.monotonic()) > 0:
        if stop.wait(min(remaining, STOP_CHECK_SECONDS)) or not alive():
            return True
    return stop.is_set() or not alive()
