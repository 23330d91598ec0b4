"""The daily compliance snapshot: per team, how many keys were in each compliance state (the
rotation dashboard's 90-day trend reads these rows, ROTATION.md §6)."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import Count, Q

from keys.models import SNAPSHOT_STATE_FIELDS, ComplianceSnapshot, KeyState, ManagedKey

COUNT_FIELDS = (*SNAPSHOT_STATE_FIELDS, "unjudged", "total")


@transaction.atomic
def snapshot_compliance(*, now: datetime) -> int:
    """Store today's counts per team (`now`'s date) from the keys' stored compliance, purged
    keys left out: one aggregate query, one upsert (and one for the keys without a team), and
    one delete of the day's rows for teams that no longer have keys. Running again the same
    day replaces the day's rows. Returns how many rows were written."""
    counts = {
        state: Count("pk", filter=Q(compliance_state=state)) for state in SNAPSHOT_STATE_FIELDS
    }
    per_team = (
        ManagedKey.objects.exclude(state=KeyState.PURGED)
        .values("team")
        .annotate(**counts, unjudged=Count("pk", filter=Q(compliance_state="")), total=Count("pk"))
        .order_by()
    )
    day, written = now.date(), 0
    rows = []
    for row in per_team:
        if row["team"] is None:  # its own unique constraint: ON CONFLICT (day, team) misses NULL
            ComplianceSnapshot.objects.update_or_create(
                day=day, team=None, defaults={"taken_at": now, **_counts(row)}
            )
            written += 1
        else:
            rows.append(
                ComplianceSnapshot(day=day, team_id=row["team"], taken_at=now, **_counts(row))
            )
    ComplianceSnapshot.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["day", "team"],
        update_fields=[*COUNT_FIELDS, "taken_at"],
    )
    ComplianceSnapshot.objects.filter(day=day, taken_at__lt=now).delete()
    return written + len(rows)


def _counts(row: dict) -> dict[str, int]:
    return {name: row[name] for name in COUNT_FIELDS}
