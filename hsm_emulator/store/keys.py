"""Keys, versions, soft-deleted keys and rotation policies in SQLite.

Reads return immutable KeyVersion records; writes run in one ``BEGIN IMMEDIATE`` transaction
each, so a request either changes everything it promises or nothing.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from hsm_emulator.codec import b64url_decode, b64url_encode
from hsm_emulator.crypto import KeyMaterial, LoadedKey
from hsm_emulator.errors import (
    conflict,
    deleted_but_recoverable,
    deleted_key_not_found,
    forbidden,
    key_not_found,
)
from hsm_emulator.jwk import KTY_FAMILY
from hsm_emulator.sealing import Sealer
from hsm_emulator.store.db import Database
from hsm_emulator.store.models import DeletedKey, KeyVersion, VersionSpec

_LOADED_CACHE_SIZE = 4096
_VERSION_COLUMNS = (
    "name, version, kty, key_size, crv, key_ops, public_jwk, sealed, enabled, nbf, exp, "
    "exportable, created, updated, tags, release_policy, origin"
)
_LATEST = "SELECT * FROM key_versions WHERE name = ? ORDER BY seq DESC LIMIT 1"


def _dump(value: Any) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"))


class KeyStore:
    """Persistence of key state; raises the service's ApiErrors for missing or busy names."""

    def __init__(self, db: Database, sealer: Sealer) -> None:
        self._db = db
        self._sealer = sealer
        self._loaded: OrderedDict[tuple[str, str], LoadedKey] = OrderedDict()
        self._loaded_lock = threading.Lock()

    # -- reads -------------------------------------------------------------------------------

    @staticmethod
    def _state(conn: Any, name: str) -> str | None:
        row = conn.execute("SELECT deleted_date FROM keys WHERE name = ?", (name,)).fetchone()
        if row is None:
            return None
        return "live" if row["deleted_date"] is None else "deleted"

    def get(self, name: str, version: str | None = None) -> KeyVersion:
        """A live key's version (latest when ``version`` is empty); 404 KeyNotFound otherwise."""
        with self._db.read() as conn:
            return self._get(conn, name, version)

    def _get(self, conn: Any, name: str, version: str | None) -> KeyVersion:
        if self._state(conn, name) != "live":
            raise key_not_found(name, version)
        if version:
            row = conn.execute(
                "SELECT * FROM key_versions WHERE name = ? AND version = ?", (name, version)
            ).fetchone()
        else:
            row = conn.execute(_LATEST, (name,)).fetchone()
        if row is None:
            raise key_not_found(name, version)
        return KeyVersion.from_row(row)

    def list_latest(self, after: str | None, limit: int) -> list[KeyVersion]:
        """Latest version of each live key, ordered by name, starting after ``after``."""
        sql = (
            "SELECT v.* FROM keys k JOIN key_versions v ON v.seq = "
            "(SELECT MAX(seq) FROM key_versions WHERE name = k.name) "
            "WHERE k.deleted_date IS NULL AND k.name > ? ORDER BY k.name LIMIT ?"
        )
        with self._db.read() as conn:
            rows = conn.execute(sql, (after or "", limit)).fetchall()
        return [KeyVersion.from_row(row) for row in rows]

    def list_versions(self, name: str, after_seq: int, limit: int) -> list[KeyVersion]:
        """Versions of a live key in creation order; 404 when the key is not live."""
        with self._db.read() as conn:
            if self._state(conn, name) != "live":
                raise key_not_found(name)
            rows = conn.execute(
                "SELECT * FROM key_versions WHERE name = ? AND seq > ? ORDER BY seq LIMIT ?",
                (name, after_seq, limit),
            ).fetchall()
        return [KeyVersion.from_row(row) for row in rows]

    def get_deleted(self, name: str) -> DeletedKey:
        """A soft-deleted key; 404 KeyNotFound ("Deleted Key not found") otherwise."""
        with self._db.read() as conn:
            row = conn.execute("SELECT * FROM keys WHERE name = ?", (name,)).fetchone()
            if row is None or row["deleted_date"] is None:
                raise deleted_key_not_found(name)
            latest = KeyVersion.from_row(conn.execute(_LATEST, (name,)).fetchone())
        return DeletedKey(latest, row["deleted_date"], row["scheduled_purge_date"])

    def list_deleted(self, after: str | None, limit: int) -> list[DeletedKey]:
        """Soft-deleted keys ordered by name, starting after ``after``."""
        sql = (
            "SELECT v.*, k.deleted_date AS k_deleted, k.scheduled_purge_date AS k_purge "
            "FROM keys k JOIN key_versions v ON v.seq = "
            "(SELECT MAX(seq) FROM key_versions WHERE name = k.name) "
            "WHERE k.deleted_date IS NOT NULL AND k.name > ? ORDER BY k.name LIMIT ?"
        )
        with self._db.read() as conn:
            rows = conn.execute(sql, (after or "", limit)).fetchall()
        return [DeletedKey(KeyVersion.from_row(r), r["k_deleted"], r["k_purge"]) for r in rows]

    def rotation_policy(self, name: str) -> dict[str, Any] | None:
        """The stored rotation policy document of a live key (None when never set)."""
        with self._db.read() as conn:
            if self._state(conn, name) != "live":
                raise key_not_found(name)
            row = conn.execute(
                "SELECT rotation_policy FROM keys WHERE name = ?", (name,)
            ).fetchone()
        return json.loads(row["rotation_policy"]) if row["rotation_policy"] else None

    def policies(self) -> list[tuple[KeyVersion, dict[str, Any]]]:
        """(latest version, policy) of every live key that has a rotation policy."""
        sql = (
            "SELECT v.*, k.rotation_policy AS k_policy FROM keys k JOIN key_versions v ON v.seq = "
            "(SELECT MAX(seq) FROM key_versions WHERE name = k.name) "
            "WHERE k.deleted_date IS NULL AND k.rotation_policy IS NOT NULL"
        )
        with self._db.read() as conn:
            rows = conn.execute(sql).fetchall()
        return [(KeyVersion.from_row(row), json.loads(row["k_policy"])) for row in rows]

    def loaded(self, key: KeyVersion) -> LoadedKey:
        """The version's private material, unsealed and parsed once, then cached while the version
        is stored (a purge that commits meanwhile keeps its material out of the cache)."""
        cache_key = (key.name, key.version)
        with self._loaded_lock:
            found = self._loaded.get(cache_key)
            if found is not None:
                self._loaded.move_to_end(cache_key)
                return found
        secret = self._sealer.unseal(key.sealed, f"{key.name}/{key.version}")
        loaded = LoadedKey(key.family, secret, key.crv)
        # Checked and inserted under the lock a purge clears the cache with after its commit:
        # either the purge's clear comes later, or this check already sees the version gone.
        with self._loaded_lock:
            if self._is_stored(key):
                self._loaded[cache_key] = loaded
                while len(self._loaded) > _LOADED_CACHE_SIZE:
                    self._loaded.popitem(last=False)
        return loaded

    def _is_stored(self, key: KeyVersion) -> bool:
        with self._db.read() as conn:
            row = conn.execute(
                "SELECT 1 FROM key_versions WHERE name = ? AND version = ?", (key.name, key.version)
            ).fetchone()
        return row is not None

    def cached_versions(self) -> list[str]:
        """``name/version`` of every version whose private material is cached (control endpoint)."""
        with self._loaded_lock:
            return [f"{name}/{version}" for name, version in self._loaded]

    def cached_versions_not_stored(self) -> list[str]:
        """Cached versions the database no longer holds: always empty unless purge leaks."""
        with self._loaded_lock:
            cached = list(self._loaded)
        with self._db.read() as conn:
            stored = {
                (row["name"].lower(), row["version"])
                for row in conn.execute("SELECT name, version FROM key_versions")
            }
        return [f"{n}/{v}" for n, v in cached if (n.lower(), v) not in stored]

    def forget_loaded(self) -> None:
        """Drop cached private material (after purge, reset or restore); call after the commit."""
        with self._loaded_lock:
            self._loaded.clear()

    # -- writes ------------------------------------------------------------------------------

    def _insert(self, conn: Any, name: str, version: str, spec: VersionSpec, stamps: tuple) -> None:
        created, updated = stamps
        conn.execute(
            f"INSERT INTO key_versions ({_VERSION_COLUMNS}) "  # noqa: S608 - constant columns
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                name,
                version,
                spec.kty,
                spec.key_size,
                spec.crv,
                _dump(list(spec.key_ops)),
                _dump(spec.public),
                self._sealer.seal(spec.secret, f"{name}/{version}"),
                int(spec.enabled),
                spec.nbf,
                spec.exp,
                int(spec.exportable),
                created,
                updated,
                _dump(spec.tags),
                _dump(spec.release_policy),
                spec.origin,
            ),
        )

    def add_version(self, name: str, spec: VersionSpec, *, now: int) -> KeyVersion:
        """Create the key or append a version; 409 when the name is soft-deleted. Names match
        case-insensitively: `pay-ORDERS` adds a version to `pay-orders`, keeping its spelling."""
        with self._db.write() as conn:
            state = self._state(conn, name)
            if state == "deleted":
                raise deleted_but_recoverable(name)
            if state is None:
                conn.execute("INSERT INTO keys (name) VALUES (?)", (name,))
            name = conn.execute("SELECT name FROM keys WHERE name = ?", (name,)).fetchone()[0]
            version = uuid.uuid4().hex
            self._insert(conn, name, version, spec, (now, now))
            return self._get(conn, name, version)

    def rotate(
        self,
        name: str,
        generate: Callable[[KeyVersion], KeyMaterial],
        build: Callable[[KeyVersion, dict[str, Any] | None, KeyMaterial], VersionSpec],
        *,
        now: int,
    ) -> KeyVersion:
        """Append a version: ``generate`` makes the material outside the write lock (slow RSA),
        ``build`` takes every attribute from the current version and policy read inside it."""
        material = generate(self.get(name))
        with self._db.write() as conn:
            current = self._get(conn, name, None)
            stored = conn.execute("SELECT rotation_policy FROM keys WHERE name = ?", (name,))
            document = stored.fetchone()["rotation_policy"]
            policy = json.loads(document) if document else None
            version = uuid.uuid4().hex
            self._insert(conn, current.name, version, build(current, policy, material), (now, now))
            return self._get(conn, name, version)

    def update(
        self,
        name: str,
        version: str | None,
        apply: Callable[[KeyVersion], dict[str, Any]],
        *,
        now: int,
    ) -> KeyVersion:
        """Change one version's mutable columns as computed by ``apply`` from its current state."""
        with self._db.write() as conn:
            current = self._get(conn, name, version)
            columns = apply(current)
            # "updated" must move forward even for two updates within one second.
            columns["updated"] = max(now, current.updated + 1)
            assignments = ", ".join(f"{column} = ?" for column in columns)
            conn.execute(
                f"UPDATE key_versions SET {assignments} WHERE seq = ?",  # noqa: S608
                (*columns.values(), current.seq),
            )
            return self._get(conn, name, current.version)

    def set_rotation_policy(self, name: str, policy: dict[str, Any]) -> None:
        """Store a (validated) rotation policy document on a live key."""
        with self._db.write() as conn:
            if self._state(conn, name) != "live":
                raise key_not_found(name)
            conn.execute(
                "UPDATE keys SET rotation_policy = ? WHERE name = ?", (_dump(policy), name)
            )

    def delete(self, name: str, *, now: int, retention_days: int) -> DeletedKey:
        """Soft-delete a live key; it keeps its versions and policy until purged."""
        purge_at = now + retention_days * 86400
        with self._db.write() as conn:
            latest = self._get(conn, name, None)
            conn.execute(
                "UPDATE keys SET deleted_date = ?, scheduled_purge_date = ? WHERE name = ?",
                (now, purge_at, name),
            )
        return DeletedKey(latest, now, purge_at)

    def recover(self, name: str) -> KeyVersion:
        """Bring a soft-deleted key back; 404 when there is no such deleted key."""
        with self._db.write() as conn:
            if self._state(conn, name) != "deleted":
                raise deleted_key_not_found(name)
            conn.execute(
                "UPDATE keys SET deleted_date = NULL, scheduled_purge_date = NULL WHERE name = ?",
                (name,),
            )
            return self._get(conn, name, None)

    def purge(self, name: str, *, now: int, purge_protection: bool) -> None:
        """Erase a soft-deleted key; under purge protection only once its retention has passed."""
        with self._db.write() as conn:
            row = conn.execute(
                "SELECT deleted_date, scheduled_purge_date FROM keys WHERE name = ?", (name,)
            ).fetchone()
            if row is None or row["deleted_date"] is None:
                raise deleted_key_not_found(name)
            if purge_protection and now < row["scheduled_purge_date"]:
                raise forbidden(
                    f"Operation 'purge' is not allowed on key {name}: purge protection is enabled "
                    f"and the key can only be purged after {row['scheduled_purge_date']} "
                    "(its scheduled purge date).",
                    inner="PurgeProtectionEnabled",
                )
            conn.execute("DELETE FROM keys WHERE name = ?", (name,))
        self.forget_loaded()

    def purge_expired(self, *, now: int) -> list[str]:
        """Purge every deleted key whose scheduled purge date has passed (background sweep)."""
        with self._db.write() as conn:
            rows = conn.execute(
                "SELECT name FROM keys WHERE scheduled_purge_date IS NOT NULL "
                "AND scheduled_purge_date <= ?",
                (now,),
            ).fetchall()
            names = [row["name"] for row in rows]
            conn.executemany("DELETE FROM keys WHERE name = ?", [(n,) for n in names])
        if names:
            self.forget_loaded()
        return names

    # -- per-key backup ----------------------------------------------------------------------

    def export(self, name: str) -> dict[str, Any]:
        """Everything needed to restore a live key: all versions (with secrets) and its policy."""
        with self._db.read() as conn:
            if self._state(conn, name) != "live":
                raise key_not_found(name)
            rows = conn.execute(
                "SELECT * FROM key_versions WHERE name = ? ORDER BY seq", (name,)
            ).fetchall()
            policy = conn.execute(
                "SELECT rotation_policy FROM keys WHERE name = ?", (name,)
            ).fetchone()["rotation_policy"]
        versions = []
        for row in rows:
            record = dict(row)
            for internal in ("seq", "sealed", "name"):
                record.pop(internal)
            secret = self._sealer.unseal(bytes(row["sealed"]), f"{row['name']}/{row['version']}")
            record["secret"] = b64url_encode(secret)
            versions.append(record)
        stored_name = rows[0]["name"]  # the key's own spelling, whichever case was asked for
        return {"format": 1, "name": stored_name, "rotation_policy": policy, "versions": versions}

    def restore(self, document: dict[str, Any]) -> KeyVersion:
        """Recreate a key from ``export`` output, keeping version ids; 409 if the name is taken."""
        name = document["name"]
        with self._db.write() as conn:
            state = self._state(conn, name)
            if state == "deleted":
                raise deleted_but_recoverable(name)
            if state == "live":
                raise conflict(f"Key {name} already exists; restore needs an unused name.")
            conn.execute(
                "INSERT INTO keys (name, rotation_policy) VALUES (?, ?)",
                (name, document.get("rotation_policy")),
            )
            for record in document["versions"]:
                self._insert(
                    conn,
                    name,
                    record["version"],
                    _spec_from_record(record),
                    (
                        record["created"],
                        record["updated"],
                    ),
                )
            return self._get(conn, name, None)


def _spec_from_record(record: dict[str, Any]) -> VersionSpec:
    if record["kty"] not in KTY_FAMILY:
        raise ValueError(f"unknown kty {record['kty']}")
    return VersionSpec(
        kty=record["kty"],
        key_size=record["key_size"],
        crv=record["crv"],
        key_ops=json.loads(record["key_ops"]),
        public=json.loads(record["public_jwk"]),
        secret=b64url_decode(record["secret"], field="secret"),
        enabled=bool(record["enabled"]),
        nbf=record["nbf"],
        exp=record["exp"],
        exportable=bool(record["exportable"]),
        tags=json.loads(record["tags"]),
        release_policy=json.loads(record["release_policy"]) if record["release_policy"] else None,
        origin=record["origin"],
    )
