"""Read-side queries of the inventory; every list and detail starts from `keys_visible_to`."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Prefetch, QuerySet

from accounts.models import User
from accounts.selectors import teams_of
from core.errors import NotFound
from keys.models import InventorySyncRun, KeyState, KeyVersion, ManagedKey, RoleAssignmentMirror


def keys_visible_to(user: User) -> QuerySet[ManagedKey]:
    """Requesters see their teams' keys; custodians, admins and auditors see every key."""
    keys = ManagedKey.objects.select_related("team")
    return keys if user.sees_all_teams else keys.filter(team__in=teams_of(user))


def key_detail_for(user: User, name: str) -> ManagedKey:
    """One visible key with versions and present role assignments. Raises NotFound."""
    key = (
        keys_visible_to(user)
        .prefetch_related(
            Prefetch("versions", queryset=KeyVersion.objects.order_by("-created_on")),
            Prefetch(
                "role_assignments",
                queryset=RoleAssignmentMirror.objects.filter(is_present=True),
            ),
        )
        .filter(name=name)
        .first()
    )
    if key is None:
        raise NotFound(f"No key named {name!r} that you may see.")
    return key


def keys_due_for_rotation(*, now: datetime) -> QuerySet[ManagedKey]:
    """Live keys whose current version is due (policy trigger or maximum age) by `now`."""
    return ManagedKey.objects.filter(state=KeyState.ACTIVE, rotation_due_on__lte=now)


def latest_sync_run() -> InventorySyncRun | None:
    return InventorySyncRun.objects.order_by("-started_at").first()
