"""HSM-wide state: settings, LRO jobs, full backup snapshots, selective restore and reset."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from hsm_emulator.store.db import STATE_TABLES, Database

DEFAULT_SETTINGS = {"AllowKeyManagementOperationsThroughARM": "false"}
_VERSION_COPY_COLUMNS = (
    "name, version, kty, key_size, crv, key_ops, public_jwk, sealed, enabled, nbf, exp, "
    "exportable, created, updated, tags, release_policy, origin"
)


class AdminStore:
    """Settings and jobs, plus whole-database operations used by backup, restore and reset."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def settings(self) -> dict[str, str]:
        """Every setting with its current value (defaults for those never changed)."""
        with self._db.read() as conn:
            stored = {r["name"]: r["value"] for r in conn.execute("SELECT * FROM settings")}
        return {**DEFAULT_SETTINGS, **stored}

    def put_setting(self, name: str, value: str) -> None:
        """Persist one setting value."""
        with self._db.write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO settings (name, value) VALUES (?, ?)", (name, value)
            )

    def job(self, job_id: str) -> dict[str, Any] | None:
        """A backup/restore job status document, or None."""
        with self._db.read() as conn:
            row = conn.execute("SELECT document FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        return json.loads(row["document"]) if row else None

    def put_job(self, document: dict[str, Any]) -> None:
        """Insert or replace a job status document."""
        with self._db.write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO jobs (job_id, document) VALUES (?, ?)",
                (document["jobId"], json.dumps(document)),
            )

    def fail_unfinished_jobs(self, *, now: int) -> int:
        """Mark jobs a previous process left InProgress as Failed (nothing runs them any more)."""
        message = "The emulator restarted while the job was in progress."
        with self._db.write() as conn:
            rows = conn.execute("SELECT document FROM jobs").fetchall()
            unfinished = [json.loads(row["document"]) for row in rows]
            unfinished = [doc for doc in unfinished if doc.get("status") == "InProgress"]
            for document in unfinished:
                document.update(
                    status="Failed",
                    statusDetails=message,
                    endTime=now,
                    error={"code": "InternalServerError", "message": message, "innererror": None},
                )
                conn.execute(
                    "UPDATE jobs SET document = ? WHERE job_id = ?",
                    (json.dumps(document), document["jobId"]),
                )
        return len(unfinished)

    def snapshot(self, target: Path) -> None:
        """Copy the whole database consistently to ``target`` (SQLite online backup)."""
        destination = sqlite3.connect(target)
        try:
            with self._db.exclusive() as conn:
                conn.backup(destination)
        finally:
            destination.close()

    def restore_all(self, source: Path) -> None:
        """Replace keys, roles and settings with those of a snapshot, in one transaction."""
        with self._db.exclusive() as conn:
            conn.execute("ATTACH DATABASE ? AS src", (str(source),))
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    for table in STATE_TABLES:
                        conn.execute(f"DELETE FROM {table}")  # noqa: S608 - constant names
                    for table in reversed(STATE_TABLES):
                        conn.execute(f"INSERT INTO {table} SELECT * FROM src.{table}")  # noqa: S608
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
            finally:
                conn.execute("DETACH DATABASE src")

    def restore_key(self, source: Path, name: str) -> bool:
        """Replace one key (versions, policy, deleted state) from a snapshot; False if absent."""
        with self._db.exclusive() as conn:
            conn.execute("ATTACH DATABASE ? AS src", (str(source),))
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    found = self._copy_key(conn, name)
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT" if found else "ROLLBACK")
                return found
            finally:
                conn.execute("DETACH DATABASE src")

    @staticmethod
    def _copy_key(conn: sqlite3.Connection, name: str) -> bool:
        if conn.execute("SELECT 1 FROM src.keys WHERE name = ?", (name,)).fetchone() is None:
            return False
        conn.execute("DELETE FROM keys WHERE name = ?", (name,))
        conn.execute("INSERT INTO keys SELECT * FROM src.keys WHERE name = ?", (name,))
        conn.execute(
            f"INSERT INTO key_versions ({_VERSION_COPY_COLUMNS}) "  # noqa: S608
            f"SELECT {_VERSION_COPY_COLUMNS} FROM src.key_versions WHERE name = ? ORDER BY seq",
            (name,),
        )
        return True

    def wipe(self) -> None:
        """Delete every key, custom role, assignment and setting (reset to a fresh HSM)."""
        with self._db.write() as conn:
            for table in STATE_TABLES:
                conn.execute(f"DELETE FROM {table}")  # noqa: S608 - constant names
