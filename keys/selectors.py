"""Read-side queries of the inventory; every list and detail starts from `keys_visible_to`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Prefetch, QuerySet
from django.db.models.functions import Lower

from accounts.models import User
from accounts.selectors import teams_of
from core.errors import NotFound
from keys.models import (
    ComplianceState,
    InventorySyncRun,
    KeyState,
    KeyVersion,
    KeyWarning,
    ManagedKey,
    RoleAssignmentMirror,
    RotationStandard,
    SyncStatus,
)


def keys_visible_to(user: User) -> QuerySet[ManagedKey]:
    """Requesters see their teams' keys; custodians, admins and auditors see every key."""
    keys = ManagedKey.objects.select_related("team")
    return keys if user.sees_all_teams else keys.filter(team__in=teams_of(user))


def keys_named(
    names: Iterable[str], keys: QuerySet[ManagedKey] | None = None
) -> QuerySet[ManagedKey]:
    """Rows of `keys` (the inventory) named `names` in any case, as Managed HSM compares names:
    `pay-ORDERS` finds `pay-orders`; at most one row per name (unique on lower(name))."""
    keys = ManagedKey.objects.all() if keys is None else keys
    return keys.alias(name_lower=Lower("name")).filter(name_lower__in={n.lower() for n in names})


def live_keys_of(teams, *, limit: int = 500) -> QuerySet[ManagedKey]:
    """Active keys of `teams` by name, at most `limit` (what a key picker offers)."""
    keys = ManagedKey.objects.filter(team__in=teams, state=KeyState.ACTIVE).select_related("team")
    return keys.order_by("name")[:limit]


def key_named(name: str) -> ManagedKey | None:
    """The inventory row named `name` in any case, or None."""
    return keys_named([name]).first()


def key_detail_for(user: User, name: str) -> ManagedKey:
    """One visible key with versions and present role assignments. Raises NotFound."""
    key = (
        keys_named([name], keys_visible_to(user))
        .prefetch_related(
            Prefetch("versions", queryset=KeyVersion.objects.order_by("-created_on")),
            Prefetch(
                "role_assignments",
                queryset=RoleAssignmentMirror.objects.filter(is_present=True),
            ),
        )
        .first()
    )
    if key is None:
        raise NotFound(f"No key named {name!r} that you may see.")
    return key


def key_exchange_keys_of(user: User, team) -> QuerySet[ManagedKey]:
    """The team's live key-exchange keys (BYOK imports wrap to them) that the user may see."""
    return keys_visible_to(user).filter(team=team, is_kek=True, state=KeyState.ACTIVE)


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


def rotation_standard_for(key_class: str, team_slug: str | None = None) -> RotationStandard:
    """A class's standard (its seed while no row exists), or with `team_slug` that team's
    override. Raises NotFound."""
    stored = RotationStandard.objects.select_related("team").filter(key_class=key_class)
    if team_slug is not None:
        standard = stored.filter(team__slug=team_slug).first()
    else:
        seeds = {seed.key_class: seed for seed in RotationStandard.seeded()}
        standard = stored.filter(team=None).first() or seeds.get(key_class)
    if standard is None:
        owner = f" for team {team_slug!r}" if team_slug else ""
        raise NotFound(f"No rotation standard of class {key_class!r}{owner}.")
    return standard


def latest_sync_run() -> InventorySyncRun | None:
    return InventorySyncRun.objects.order_by("-started_at").first()


def last_successful_sync_at() -> datetime | None:
    """When the newest inventory sync that succeeded finished (None: none yet)."""
    return (
        InventorySyncRun.objects.filter(status=SyncStatus.SUCCEEDED, finished_at__isnull=False)
        .order_by("-finished_at")
        .values_list("finished_at", flat=True)
        .first()
    )


def compliance_counts() -> dict[str, int]:
    """Compliance state → how many keys (purged keys left out, as in the daily snapshot; "" is
    a key not judged yet): one grouped query."""
    rows = (
        ManagedKey.objects.exclude(state=KeyState.PURGED)
        .order_by()
        .values_list("compliance_state")
        .annotate(n=Count("pk"))
    )
    return dict(rows)


def rotation_classes() -> set[str]:
    """The names of the rotation classes: the built-in ones and every standard that is not a
    team's override."""
    stored = RotationStandard.objects.filter(team=None).values_list("key_class", flat=True)
    return {standard.key_class for standard in RotationStandard.seeded()} | set(stored)


@dataclass(frozen=True)
class StandardRow:
    """One line of the standards page: the standard (unsaved: a seed with no row yet) and how
    many live keys it judges."""

    standard: RotationStandard
    key_count: int

    @property
    def is_seed(self) -> bool:
        return self.standard.pk is None


def rotation_standards_in_use() -> list[StandardRow]:
    """Every class's standard (a seed stands in for a missing row), then the team overrides,
    each with the number of live keys it judges: a class counts its keys minus those of teams
    that override it. Two queries."""
    stored = list(rotation_standards())
    classes = {s.key_class: s for s in RotationStandard.seeded()}
    classes.update({s.key_class: s for s in stored if s.team_id is None})
    overrides = [s for s in stored if s.team_id is not None]
    counts: dict[tuple[str, int | None], int] = {}
    live = ManagedKey.objects.filter(state=KeyState.ACTIVE)
    for row in live.values("rotation_class", "team_id").annotate(count=Count("pk")):
        counts[(row["rotation_class"], row["team_id"])] = row["count"]
    overridden = {(s.key_class, s.team_id) for s in overrides}

    def class_count(key_class: str) -> int:
        return sum(
            n
            for (kc, team), n in counts.items()
            if kc == key_class and (kc, team) not in overridden
        )

    rows = [StandardRow(classes[name], class_count(name)) for name in sorted(classes)]
    return rows + [StandardRow(s, counts.get((s.key_class, s.team_id), 0)) for s in overrides]
