"""Read-side queries of the audit trail: what a user may see, in which order, and where the
chain, its sealing, checkpoints and verification runs stand."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Count, F, Min, Q, QuerySet

from accounts.models import User
from accounts.roles import AUDIT_READ_ALL_ROLES, AUDIT_READ_REQUESTS_AND_KEYS_ROLES
from accounts.selectors import teams_of
from audit.models import AuditCheckpoint, AuditEvent, VerificationRun

# What a custodian may act on: change requests and keys, of every team.
CUSTODIAN_TARGET_TYPES = ("approvals.changerequest", "keys.managedkey")


def events_visible_to(user: User) -> QuerySet[AuditEvent]:
    """Events the user may read: all for auditors and admins; otherwise their teams' events,
    plus, for custodians, every event about a change request or a key. Others see none."""
    if user.roles & AUDIT_READ_ALL_ROLES:
        return AuditEvent.objects.all()
    scope = Q(team__in=teams_of(user).values("pk"))
    if user.roles & AUDIT_READ_REQUESTS_AND_KEYS_ROLES:
        scope |= Q(target_type__in=CUSTODIAN_TARGET_TYPES)
    return AuditEvent.objects.filter(scope)


def last_event_time(action: str) -> datetime | None:
    """When the newest event named `action` was recorded, sealed or not (None: never)."""
    return (
        AuditEvent.objects.filter(action=action)
        .order_by("-id")
        .values_list("occurred_at", flat=True)
        .first()
    )


def newest_first(events: QuerySet[AuditEvent]) -> QuerySet[AuditEvent]:
    """Events newest first: the unsealed ones (newest, by insertion), then by sequence."""
    return events.order_by(F("sequence").desc(nulls_first=True), "-id")


def oldest_first(events: QuerySet[AuditEvent]) -> QuerySet[AuditEvent]:
    """Events in chain order, the unsealed ones (not in the chain yet) last by insertion."""
    return events.order_by(F("sequence").asc(nulls_last=True), "id")


@dataclass(frozen=True)
class Backlog:
    """Events committed but not sealed yet: how many, and when the oldest was recorded."""

    count: int
    oldest_at: datetime | None

    def age_seconds(self, now: datetime) -> float | None:
        return None if self.oldest_at is None else max((now - self.oldest_at).total_seconds(), 0)

    def as_dict(self, now: datetime) -> dict[str, Any]:
        age = self.age_seconds(now)
        return {"count": self.count, "oldest_age_seconds": None if age is None else round(age, 3)}


def unsealed_backlog() -> Backlog:
    """The sealer's backlog (`audit.services.seal_events`), from its partial index."""
    found = AuditEvent.objects.filter(sequence__isnull=True).aggregate(
        count=Count("id"), oldest_at=Min("occurred_at")
    )
    return Backlog(found["count"], found["oldest_at"])


def chain_head() -> tuple[int, str] | None:
    """(sequence, hash) of the newest sealed event; None while none is sealed."""
    return (
        AuditEvent.objects.filter(sequence__isnull=False)
        .order_by("-sequence")
        .values_list("sequence", "hash")
        .first()
    )


def chain_head_at() -> datetime | None:
    """When the newest sealed event was recorded (None while none is sealed)."""
    return (
        AuditEvent.objects.filter(sequence__isnull=False)
        .order_by("-sequence")
        .values_list("occurred_at", flat=True)
        .first()
    )


def latest_checkpoint_at() -> datetime | None:
    """When the newest signed checkpoint was signed (None: none yet)."""
    return AuditCheckpoint.objects.order_by("-number").values_list("signed_at", flat=True).first()


def latest_verification() -> VerificationRun | None:
    """The newest verification run, running or finished (None: none yet)."""
    return VerificationRun.objects.order_by("-started_at").first()
