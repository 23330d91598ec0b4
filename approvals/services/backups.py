"""Backup blobs made by key.backup requests, kept for custodians to download."""

from __future__ import annotations

import hashlib
from uuid import UUID

from django.db import transaction

from accounts.models import User
from approvals.models import ChangeRequest, KeyBackup
from approvals.permissions import can_download_backup, ensure_allowed
from approvals.services.common import lock_request
from audit.actions import Action
from audit.context import AuditContext
from audit.services import record_event
from core.errors import NotFound


def store_backup(*, change: ChangeRequest, blob: bytes) -> KeyBackup:
    """Keep the blob (inside the execution's record transaction); a repeat replaces it."""
    backup, _ = KeyBackup.objects.update_or_create(
        request=change,
        defaults={
            "key_name": change.key_name,
            "blob": blob,
            "sha256": hashlib.sha256(blob).hexdigest(),
        },
    )
    return backup


@transaction.atomic
def download_backup(*, request_id: UUID, custodian: User, ctx: AuditContext) -> KeyBackup:
    """A custodian takes the blob of a key.backup request; every download is audited.
    Raises NotAllowed (not a custodian), Conflict (not a key.backup that succeeded), NotFound
    (no such request, or no blob for it)."""
    change = lock_request(request_id)
    ensure_allowed(can_download_backup(custodian, change))
    backup = KeyBackup.objects.filter(request=change).first()
    if backup is None:
        raise NotFound("This request has no backup blob.")
    record_event(
        ctx,
        Action.KEY_BACKUP_DOWNLOADED,
        target=change,
        after={"key": backup.key_name, "sha256": backup.sha256},
    )
    return backup
