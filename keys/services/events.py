"""Audit events the inventory records."""

from __future__ import annotations

from audit.actions import Action
from audit.services import EventSpec


def drift_event(row, previous: list[str], reasons: list[str], **details) -> EventSpec:
    """The `key.drift_detected` event for a key or role assignment whose drift changed."""
    return EventSpec(
        action=Action.KEY_DRIFT_DETECTED,
        target=row,
        team=row.team,
        before={"drift_reasons": previous},
        after={"drift_reasons": reasons, **details},
    )


def hsm_rotation_event(row, old_version: str, new_version: str) -> EventSpec:
    """The `key.rotated_by_hsm` event: the HSM's rotation policy replaced the current version."""
    return EventSpec(
        action=Action.KEY_ROTATED_BY_HSM,
        target=row,
        team=row.team,
        before={"version": old_version},
        after={"version": new_version},
    )
