"""How an HSM reading becomes an inventory row: the one mapping that the sync (in bulk) and the
executions' record step (one key at a time, `keys.services.inventory`) share.

Pure attribute copies onto unsaved or locked rows, plus the version upsert; callers save.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime

from accounts.models import DEFAULT_ROTATION_CLASS, Team
from keys import drift
from keys.gateway import DeletedKeyInfo, KeyInfo, KeyVersionInfo, RoleAssignmentInfo
from keys.models import (
    ROTATION_CLASS_TAG,
    VERSION_FIELDS,
    KeyState,
    KeyVersion,
    ManagedKey,
    is_key_exchange_key,
)

# What a listing of a key's current version shows (KeyVersionInfo and KeyInfo alike): the sync
# copies these and compares them to tell a key that did not change since it was last read.
LISTED_FIELDS = ("updated_on", "enabled", "expires_on", "not_before", "tags")


def observe_live_key(
    row: ManagedKey, *, team: Team | None, listing: KeyVersionInfo | KeyInfo, key: KeyInfo | None
) -> None:
    """A live key as the HSM shows it: the `listing`'s properties and, when the key itself was
    read, its material (type, size, operations, exportability) and current version."""
    row.team = team
    for name in LISTED_FIELDS:
        setattr(row, name, getattr(listing, name))
    row.state, row.deleted_on, row.scheduled_purge_on = KeyState.ACTIVE, None, None
    if key is not None:
        row.kty, row.curve, row.key_ops = key.kty, key.curve or "", list(key.key_ops)
        row.is_kek = is_key_exchange_key(row.kty, row.key_ops)
        row.key_size = key.key_size or row.key_size  # oct keys never show their size
        row.exportable, row.current_version = key.exportable, key.version


def observe_deleted_key(row: ManagedKey, deleted: DeletedKeyInfo) -> None:
    """A soft-deleted key: recoverable until its scheduled purge."""
    row.state, row.deleted_on = KeyState.DELETED, deleted.deleted_on
    row.scheduled_purge_on = deleted.scheduled_purge_on


def set_rotation_due(row: ManagedKey, *, version_created: datetime | None) -> None:
    """What the rotation due date rests on: when the current version was made
    (`keys.services.compliance.refresh_compliance` judges the row from it)."""
    row.current_version_created_on = version_created


def rotation_class_of(
    tags: dict | None, *, team_default: str | None, known: Collection[str]
) -> str:
    """A key's rotation class: its `keywarden-class` tag, else its team's default class, else
    the default class (a class nobody defined counts as not set)."""
    for candidate in ((tags or {}).get(ROTATION_CLASS_TAG), team_default):
        if candidate in known:
            return candidate
    return DEFAULT_ROTATION_CLASS


def observed_snapshot(row: ManagedKey) -> dict:
    """The row's comparable state (`drift.snapshot`), as `last_applied` stores it."""
    return drift.snapshot(
        state=row.state,
        enabled=row.enabled,
        key_ops=row.key_ops,
        tags=row.tags,
        not_before=row.not_before,
        expires_on=row.expires_on,
        current_version=row.current_version,
        rotation_policy=row.rotation_policy,
    )


def listed_assignment(
    assignment: RoleAssignmentInfo, *, role_name: str, key_id: int | None, team: Team | None
) -> dict:
    """The RoleAssignmentMirror fields of an assignment the HSM lists (so: present)."""
    return {
        "scope": assignment.scope,
        "principal_id": assignment.principal_id,
        "role_definition_id": assignment.role_definition_id,
        "role_name": role_name,
        "key_id": key_id,
        "team": team,
        "is_present": True,
    }


def upsert_versions(pairs: Iterable[tuple[ManagedKey, KeyVersionInfo | KeyInfo]]) -> None:
    """Insert or refresh one KeyVersion per (saved row, version read from the HSM)."""
    versions = [
        KeyVersion(
            key_id=row.pk,
            version=version.version,
            **{name: getattr(version, name) for name in VERSION_FIELDS},
        )
        for row, version in pairs
    ]
    if versions:
        KeyVersion.objects.bulk_create(
            versions,
            update_conflicts=True,
            unique_fields=["key", "version"],
            update_fields=VERSION_FIELDS,
        )
