"""Keywarden's PostgreSQL backend: Django's, counted for /metrics by django-prometheus, with a
health check (CONN_HEALTH_CHECKS) that costs no round trip while the connection is quiet.

Django checks a persistent connection at the start of every request and task with `SELECT 1`:
a round trip before the first real statement (about 2 ms of a worker's 60 at 20 ms HSM
latency, under load). A server that ends a connection (a restart, pg_terminate_backend, an idle
timeout) tells the client so: its last message and the close make the idle socket readable. So
an idle connection whose socket has nothing to read, and which psycopg has not seen fail, is
taken as healthy without asking; anything waiting on the socket (that goodbye, or a
notification) gets Django's round trip, which closes the connection when it fails."""

from __future__ import annotations

import select

from django_prometheus.db.backends.postgresql import base


class DatabaseWrapper(base.DatabaseWrapper):
    def close_if_health_check_failed(self) -> None:
        due = self.connection is not None and self.health_check_enabled
        if due and not self.health_check_done and _quiet(self.connection):
            self.health_check_done = True
            return
        super().close_if_health_check_failed()


def _quiet(connection) -> bool:
    """Open, not seen failing, and nothing from the server waiting to be read."""
    if connection.closed or connection.broken:
        return False
    readable, _, _ = select.select([connection.fileno()], [], [], 0)
    return not readable
