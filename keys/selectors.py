"""Read-side queries of the inventory; every list and detail starts from `keys_visible_to`."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from accounts.models import User
from accounts.selectors import teams_of
from core.errors import NotFound
from keys.models import (
    ComplianceState,
    InventorySyncRun,
    KeyVersion,
    KeyWarning,
    ManagedKey,
    RoleAssignmentMirror,
    RotationStandard,
)


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


def keys_overdue_for_rotation() -> QuerySet[ManagedKey]:
    """Keys whose current version is past its due date, as the last compliance refresh judged
    (it runs on every sync, execution and standard change, and daily)."""
    return ManagedKey.objects.filter(compliance_state=ComplianceState.OVERDUE)


def warnings_sent_for(key: ManagedKey) -> QuerySet[KeyWarning]:
    """The warnings mailed about a key (ROTATION.md §4), the latest first."""
    return key.warnings.filter(sent_at__isnull=False).order_by("-sent_at", "-pk")


def rotation_standards() -> QuerySet[RotationStandard]:
    """Every rotation standard, the classes first, then their team overrides."""
    return RotationStandard.objects.select_related("team").order_by("key_class", "team__slug", "pk")


def latest_sync_run() -> InventorySyncRun | None:
    return InventorySyncRun.objects.order_by("-started_at").first()


def rotation_classes() -> set[str]:
    """The names of the rotation classes: the built-in ones and every standard that is not a
    team's override."""
    stored = RotationStandard.objects.filter(team=None).values_list("key_class", flat=True)
    return {standard.key_class for standard in RotationStandard.seeded()} | set(stored)
