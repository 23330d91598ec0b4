"""Who may change the keys app's own settings (STYLE §2 predicates): the services call them
right after the lock, views and the API to offer the same actions."""

from __future__ import annotations

from accounts.models import User
from accounts.roles import INVENTORY_SYNC_ROLES, ROTATION_STANDARD_EDIT_ROLES
from core.decisions import ALLOWED, Decision, Refused


def can_edit_rotation_standard(user: User) -> Decision:
    """Admins edit rotation standards and their team overrides."""
    if not user.roles & ROTATION_STANDARD_EDIT_ROLES:
        return Refused("Only admins edit rotation standards.")
    return ALLOWED


def can_request_inventory_sync(user: User) -> Decision:
    """Admins ask for a full inventory sync now ("Sync now" on the admin home)."""
    if not user.roles & INVENTORY_SYNC_ROLES:
        return Refused("Only admins start an inventory sync.")
    return ALLOWED
