"""Reads of the posture app: findings and runs (the callers check `can_view_posture`)."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Case, IntegerField, Q, QuerySet, Value, When

from posture.models import Finding, FindingState, PostureRun, Severity

SEVERITY_ORDER = Case(
    When(severity=Severity.HIGH, then=Value(0)),
    When(severity=Severity.MEDIUM, then=Value(1)),
    default=Value(2),
    output_field=IntegerField(),
)


def state_filter(state: str, *, now: datetime) -> Q:
    """The findings in `state` at `now` (an acceptance counts until it expires)."""
    accepted = Q(accepted_until__gt=now)
    if state == FindingState.RESOLVED:
        return Q(resolved_at__isnull=False)
    if state == FindingState.ACCEPTED:
        return Q(resolved_at__isnull=True) & accepted
    return Q(resolved_at__isnull=True) & ~accepted


def findings_ordered() -> QuerySet[Finding]:
    """Unresolved first, then high → low, then rule and subject."""
    return (
        Finding.objects.select_related("accepted_by")
        .annotate(severity_order=SEVERITY_ORDER)
        .order_by("-resolved_at", "severity_order", "rule", "subject")
    )


def finding_counts(*, now: datetime) -> dict[str, int]:
    return {
        state: Finding.objects.filter(state_filter(state, now=now)).count()
        for state in FindingState.values
    }


def latest_run() -> PostureRun | None:
    return PostureRun.objects.first()
