"""Record in the inventory what Keywarden itself just did to the HSM.

Executions call these inside their *record* transaction, with what the HSM answered; the result
becomes the drift baseline (`last_applied`), so a later sync sees no drift for it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction

from keys import drift
from keys.gateway import DeletedKeyInfo, KeyInfo, RoleAssignmentInfo
from keys.models import KeyState, KeyVersion, ManagedKey, RoleAssignmentMirror
from keys.services.sync import observed_snapshot
from keys.services.teams import TeamResolver, key_name_of_scope

KEEP = object()  # "leave the stored rotation policy as it is"


def _locked_row(name: str) -> ManagedKey:
    return ManagedKey.objects.select_for_update().filter(name=name).first() or ManagedKey(name=name)


def _mark_applied(row: ManagedKey, now: datetime) -> ManagedKey:
    """Save the row with what the HSM now shows as the new drift baseline."""
    row.observed_at = now
    row.last_applied = observed_snapshot(row)
    row.has_drift, row.drift_reasons, row.drift_detected_at = False, [], None
    row.save()
    return row


# Savepoint-free: these run inside the execution's record transaction (one statement each).
in_caller_transaction = transaction.atomic(savepoint=False)


@in_caller_transaction
def record_key_applied(
    *, key: KeyInfo, now: datetime, rotation_policy: dict | object | None = KEEP
) -> ManagedKey:
    """Upsert the key's current version as the HSM returned it after our change."""
    row = _locked_row(key.name)
    row.team = TeamResolver.load().owner_of(key.name)
    row.kty, row.curve, row.key_ops = key.kty, key.curve or "", list(key.key_ops)
    row.key_size = key.key_size or row.key_size
    row.enabled, row.exportable, row.tags = key.enabled, key.exportable, key.tags
    row.updated_on, row.not_before, row.expires_on = key.updated_on, key.not_before, key.expires_on
    row.state, row.deleted_on, row.scheduled_purge_on = KeyState.ACTIVE, None, None
    if rotation_policy is not KEEP:
        row.rotation_policy = rotation_policy
    new_version = row.current_version != key.version
    if row.current_version and new_version:
        row.last_rotated_on = key.created_on
    # A new version adds one; a sync recounts exactly if anything else happened meanwhile.
    row.version_count = row.version_count + 1 if new_version else max(row.version_count, 1)
    row.current_version = key.version
    row.created_on = row.created_on or key.created_on
    row.rotation_due_on = drift.rotation_due_on(
        policy=row.rotation_policy,
        version_created=key.created_on,
        expires_on=row.expires_on,
        max_age=timedelta(days=settings.KEY_MAX_AGE_DAYS),
    )
    _mark_applied(row, now)
    KeyVersion.objects.bulk_create(
        [
            KeyVersion(
                key=row,
                version=key.version,
                enabled=key.enabled,
                created_on=key.created_on,
                updated_on=key.updated_on,
                not_before=key.not_before,
                expires_on=key.expires_on,
            )
        ],
        update_conflicts=True,
        unique_fields=["key", "version"],
        update_fields=["enabled", "created_on", "updated_on", "not_before", "expires_on"],
    )
    return row


@in_caller_transaction
def record_rotation_policy_applied(*, name: str, policy: dict | None, now: datetime) -> ManagedKey:
    row = _locked_row(name)
    row.rotation_policy = policy
    current = row.versions.filter(version=row.current_version).first() if row.pk else None
    row.rotation_due_on = drift.rotation_due_on(
        policy=policy,
        version_created=current.created_on if current else row.created_on,
        expires_on=row.expires_on,
        max_age=timedelta(days=settings.KEY_MAX_AGE_DAYS),
    )
    return _mark_applied(row, now)


@in_caller_transaction
def record_key_deleted(*, deleted: DeletedKeyInfo, now: datetime) -> ManagedKey:
    row = _locked_row(deleted.name)
    row.state, row.deleted_on = KeyState.DELETED, deleted.deleted_on
    row.scheduled_purge_on = deleted.scheduled_purge_on
    return _mark_applied(row, now)


@in_caller_transaction
def record_key_purged(*, name: str, now: datetime) -> ManagedKey:
    row = _locked_row(name)
    row.state = KeyState.PURGED
    return _mark_applied(row, now)


@in_caller_transaction
def record_assignment_applied(
    *, assignment: RoleAssignmentInfo, role_name: str, principal_type: str, now: datetime
) -> RoleAssignmentMirror:
    """Mirror an assignment Keywarden made (managed, so never drift)."""
    key_name = key_name_of_scope(assignment.scope)
    row, _ = RoleAssignmentMirror.objects.update_or_create(
        name=assignment.name,
        defaults={
            "scope": assignment.scope,
            "key": ManagedKey.objects.filter(name=key_name).first() if key_name else None,
            "team": TeamResolver.load().owner_of(key_name) if key_name else None,
            "role_definition_id": assignment.role_definition_id,
            "role_name": role_name,
            "principal_id": assignment.principal_id,
            "principal_type": principal_type,
            "is_managed": True,
            "is_present": True,
            "has_drift": False,
            "drift_reasons": [],
            "last_synced_at": now,
        },
    )
    return row


@in_caller_transaction
def record_assignment_removed(*, name: str, now: datetime) -> int:
    """Mark an assignment Keywarden removed as absent (no drift: we did it)."""
    return RoleAssignmentMirror.objects.filter(name=name).update(
        is_present=False, is_managed=False, has_drift=False, drift_reasons=[], last_synced_at=now
    )
