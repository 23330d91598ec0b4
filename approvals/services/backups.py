"""Backup blobs made by key.backup requests, kept for custodians to download."""

from __future__ import annotations

import hashlib

from approvals.models import ChangeRequest, KeyBackup


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
