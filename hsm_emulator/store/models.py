"""Plain records the store hands to routes (no SQLite rows escape the store)."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from hsm_emulator.jwk import KTY_FAMILY


@dataclass(frozen=True)
class KeyVersion:
    """One version of a key with its attributes; ``sealed`` is the encrypted private material."""

    name: str
    version: str
    seq: int
    kty: str
    key_size: int | None
    crv: str | None
    key_ops: tuple[str, ...]
    public: dict[str, str]
    sealed: bytes
    enabled: bool
    nbf: int | None
    exp: int | None
    exportable: bool
    created: int
    updated: int
    tags: dict[str, str]
    release_policy: dict[str, Any] | None
    origin: str

    @property
    def family(self) -> str:
        """RSA, EC or oct."""
        return KTY_FAMILY[self.kty]

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> KeyVersion:
        """Build from a ``key_versions`` row."""
        return cls(
            name=row["name"],
            version=row["version"],
            seq=row["seq"],
            kty=row["kty"],
            key_size=row["key_size"],
            crv=row["crv"],
            key_ops=tuple(json.loads(row["key_ops"])),
            public=json.loads(row["public_jwk"]),
            sealed=bytes(row["sealed"]),
            enabled=bool(row["enabled"]),
            nbf=row["nbf"],
            exp=row["exp"],
            exportable=bool(row["exportable"]),
            created=row["created"],
            updated=row["updated"],
            tags=json.loads(row["tags"]),
            release_policy=json.loads(row["release_policy"]) if row["release_policy"] else None,
            origin=row["origin"],
        )


@dataclass(frozen=True)
class DeletedKey:
    """A soft-deleted key: its latest version plus the deletion dates."""

    latest: KeyVersion
    deleted_date: int
    scheduled_purge_date: int


@dataclass
class VersionSpec:
    """Everything needed to insert a new key version (attributes already validated)."""

    kty: str
    key_size: int | None
    crv: str | None
    key_ops: list[str]
    public: dict[str, str]
    secret: bytes
    enabled: bool = True
    nbf: int | None = None
    exp: int | None = None
    exportable: bool = False
    tags: dict[str, str] = field(default_factory=dict)
    release_policy: dict[str, Any] | None = None
    origin: str = "generated"


@dataclass(frozen=True)
class RoleAssignment:
    """A local RBAC role assignment."""

    name: str
    scope: str
    role_definition_id: str
    principal_id: str
