"""SQLite access: schema, a connection pool, and read/write transactions.

WAL mode lets readers run while one writer commits. Each request borrows a pooled connection
(no thread-locals); writes additionally take a process lock before ``BEGIN IMMEDIATE`` so
concurrent writers queue in Python instead of spinning in SQLite's busy handler. The pool holds at
most ``MAX_CONNECTIONS``: a borrower waits for a free one (no code path holds two at once), and
after ``POOL_WAIT_SECONDS`` the request is answered 503, as a busy service would.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hsm_emulator.errors import ApiError

MAX_CONNECTIONS = 32
POOL_WAIT_SECONDS = 30.0

# Key names compare case-insensitively, as in the service (NOCASE: every `name = ?`, the
# primary key and the ordering); a key keeps the spelling it was first created with.
SCHEMA = """
CREATE TABLE IF NOT EXISTS keys (
    name TEXT PRIMARY KEY COLLATE NOCASE,
    deleted_date INTEGER,
    scheduled_purge_date INTEGER,
    rotation_policy TEXT
);
CREATE TABLE IF NOT EXISTS key_versions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL COLLATE NOCASE REFERENCES keys(name) ON DELETE CASCADE,
    version TEXT NOT NULL,
    kty TEXT NOT NULL,
    key_size INTEGER,
    crv TEXT,
    key_ops TEXT NOT NULL,
    public_jwk TEXT NOT NULL,
    sealed BLOB NOT NULL,
    enabled INTEGER NOT NULL,
    nbf INTEGER,
    exp INTEGER,
    exportable INTEGER NOT NULL,
    created INTEGER NOT NULL,
    updated INTEGER NOT NULL,
    tags TEXT NOT NULL,
    release_policy TEXT,
    origin TEXT NOT NULL,
    UNIQUE (name, version)
);
CREATE INDEX IF NOT EXISTS key_versions_by_name ON key_versions (name, seq);
CREATE TABLE IF NOT EXISTS role_definitions (name TEXT PRIMARY KEY, document TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS role_assignments (
    name TEXT PRIMARY KEY,
    scope TEXT NOT NULL COLLATE NOCASE,
    role_definition_id TEXT NOT NULL,
    principal_id TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS role_assignments_by_principal ON role_assignments (principal_id);
CREATE TABLE IF NOT EXISTS settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (job_id TEXT PRIMARY KEY, document TEXT NOT NULL);
"""
# Tables a full backup carries and a reset or full restore replaces (jobs are operational).
STATE_TABLES = ("key_versions", "keys", "role_definitions", "role_assignments", "settings")


class Database:
    """One SQLite file shared by all request threads of the emulator process."""

    def __init__(
        self,
        path: Path,
        *,
        max_connections: int = MAX_CONNECTIONS,
        wait_seconds: float = POOL_WAIT_SECONDS,
    ) -> None:
        self.path = path
        self.max_connections = max_connections
        self._wait_seconds = wait_seconds
        self._slots = threading.BoundedSemaphore(max_connections)
        self._idle: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._write_lock = threading.Lock()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        with self.exclusive() as conn:
            conn.executescript(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        # NORMAL keeps WAL commits atomic; only a power cut can lose the last few commits.
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        with self._all_lock:
            self._all.append(conn)
        return conn

    def _acquire(self) -> sqlite3.Connection:
        if not self._slots.acquire(timeout=self._wait_seconds):
            raise ApiError(
                503,
                "ServiceUnavailable",
                "The HSM is busy: no database connection became free; retry later.",
                headers={"Retry-After": "1"},
            )
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        try:
            return self._connect()
        except BaseException:
            self._slots.release()
            raise

    def _release(self, conn: sqlite3.Connection) -> None:
        self._idle.put(conn)
        self._slots.release()

    @property
    def open_connections(self) -> int:
        """How many connections this database has opened (never more than the pool's size)."""
        with self._all_lock:
            return len(self._all)

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A connection in a read transaction: every statement sees one snapshot."""
        conn = self._acquire()
        try:
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.execute("COMMIT")
        finally:
            self._release(conn)

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A connection in ``BEGIN IMMEDIATE``; commits on success, rolls back on any error."""
        with self._write_lock:
            conn = self._acquire()
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            finally:
                self._release(conn)

    @contextmanager
    def exclusive(self) -> Iterator[sqlite3.Connection]:
        """A connection outside any transaction, writers held off (ATTACH/DETACH need that)."""
        with self._write_lock:
            conn = self._acquire()
            try:
                yield conn
            finally:
                self._release(conn)

    def close(self) -> None:
        """Close every connection this database opened."""
        with self._all_lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
