"""What the rotation jobs (ROTATION.md §3-§5) would do at an instant, and running them then:
the operators' `rotation_plan` and `run_rotation_jobs` commands share it."""

from __future__ import annotations

from datetime import datetime

from django.core.management.base import CommandError
from django.utils.dateparse import parse_datetime

from accounts.models import Team
from approvals.services import plan_schedule_work, run_rotation_schedules
from audit.context import AuditContext
from keys.models import ComplianceState, RotationMechanism
from keys.services.compliance import forecast_compliance, refresh_compliance
from keys.services.snapshots import snapshot_compliance
from keys.services.warnings import planned_warnings, warn_owners


def instant(text: str | None, default: datetime) -> datetime:
    """`--now` as an aware datetime (ISO-8601 with an offset; a bare date is midnight UTC)."""
    if not text:
        return default
    moment = parse_datetime(text if "T" in text else f"{text}T00:00:00+00:00")
    if moment is None or moment.tzinfo is None:
        raise CommandError(f"--now {text!r}: give an ISO-8601 time with an offset, or a date.")
    return moment


def team_slug(text: str | None) -> str | None:
    """`--team` as a known team's slug: a typo must not print an empty, reassuring plan."""
    if text and not Team.objects.filter(slug=text).exists():
        known = ", ".join(Team.objects.order_by("slug").values_list("slug", flat=True))
        raise CommandError(f"--team {text!r}: no such team. Known: {known or 'none'}.")
    return text or None


def rotation_plan(*, now: datetime, team: str | None = None) -> dict:
    """What each job would do at `now`, doing none of it."""
    works = plan_schedule_work(now=now, team=team)
    moved = {work.schedule_id: work.next_run_on for work in works if work.next_run_on}
    judged = forecast_compliance(now=now, team=team, next_runs=moved)

    def named(state: str) -> list[str]:
        return [row.name for row, _ in judged if row.compliance_state == state]

    return {
        "now": now.isoformat(),
        "team": team,
        "schedules": [work.as_dict() for work in works],
        "hsm_policy_rotations": [
            {"key": row.name, "due_on": row.compliance_due_on.isoformat()}
            for row, _ in judged
            if row.compliance_mechanism == RotationMechanism.HSM_POLICY
            and row.compliance_due_on
            and row.compliance_due_on <= now
        ],
        "compliance_changes": [
            {"key": row.name, "from": stored, "to": row.compliance_state}
            for row, stored in judged
            if stored != row.compliance_state
        ],
        "warnings": [
            {"key": w.key.name, "kind": w.kind, "threshold": w.threshold, "team": w.key.team.slug}
            for w in planned_warnings([row for row, _ in judged], now=now)
        ],
        "overdue": named(ComplianceState.OVERDUE),
        "expired": named(ComplianceState.EXPIRED),
    }


def run_rotation_jobs(*, now: datetime) -> dict:
    """Run the jobs at `now`, in the order that makes each see the one before: schedule runs,
    compliance, warnings, the day's snapshot."""
    ctx = AuditContext.scheduler(job=f"run_rotation_jobs@{now.isoformat()}")
    done = run_rotation_schedules(now=now, ctx=ctx)
    changed = refresh_compliance(now=now)
    warned = warn_owners(now=now, ctx=ctx)
    return {
        "now": now.isoformat(),
        "schedules": [work.as_dict() for work in done],
        "compliance_changed": changed,
        "warnings": {"recorded": warned.due, "sent": warned.sent, "failed": warned.failed},
        "snapshot_teams": snapshot_compliance(now=now),
    }
