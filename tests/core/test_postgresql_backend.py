"""Keywarden's PostgreSQL backend checks a quiet connection's health without a round trip, and
asks the server whenever its socket has something to say: a connection the server ended is
closed (and the next query reconnects), one that merely got a notification is kept. What
reached the server is read from pg_stat_activity, over a second real connection."""

from __future__ import annotations

import select
import time

import psycopg
import pytest
from django.db import connection

from tests.support.worker import database_url_for_subprocess

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif("connection.vendor != 'postgresql'"),
]
TIMEOUT = 10


@pytest.fixture
def observer():
    with psycopg.connect(database_url_for_subprocess(), autocommit=True) as observer:
        yield observer


def last_query(observer, pid: int) -> tuple[str, object] | None:
    """The backend's last statement and when it started; None once the backend is gone."""
    return observer.execute(
        "SELECT query, query_start FROM pg_stat_activity WHERE pid = %s", [pid]
    ).fetchone()


def marked_backend() -> int:
    """This test's Django connection, its last statement a marker; its backend pid."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid(), 'marker'")
        return cursor.fetchone()[0]


def health_check() -> None:
    """What Django runs at the start of each request or task."""
    connection.health_check_done = False
    connection.close_if_health_check_failed()


def wait_readable() -> None:
    readable, _, _ = select.select([connection.connection.fileno()], [], [], TIMEOUT)
    assert readable, "the server sent nothing"


def test_a_quiet_connection_passes_without_a_round_trip(observer):
    # given
    pid = marked_backend()
    before = last_query(observer, pid)
    # when
    health_check()
    # then: kept, and the server saw nothing since the marker
    assert connection.connection is not None
    assert last_query(observer, pid) == before
    assert before[0] == "SELECT pg_backend_pid(), 'marker'"


def test_a_connection_the_server_ended_is_closed_and_the_next_query_reconnects(observer):
    # given: the server ends the connection (as a restart would)
    pid = marked_backend()
    observer.execute("SELECT pg_terminate_backend(%s)", [pid])
    wait_readable()
    # when
    health_check()
    # then
    assert connection.connection is None
    assert marked_backend() != pid


def test_a_connection_with_a_notification_waiting_is_asked_and_kept(observer):
    # given: the connection listens, and a notification has arrived on its socket
    with connection.cursor() as cursor:
        cursor.execute("LISTEN keywarden_test")
    pid = marked_backend()
    observer.execute("NOTIFY keywarden_test")
    wait_readable()
    # when
    health_check()
    # then: Django's round trip was made, and the connection stays
    assert connection.connection is not None
    deadline = time.monotonic() + TIMEOUT
    while last_query(observer, pid)[0] != "SELECT 1" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert last_query(observer, pid)[0] == "SELECT 1"
    assert marked_backend() == pid
