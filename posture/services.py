"""Posture evaluations (after every sync, and on demand) and accepted risks.

An evaluation reads the HSM (`posture.snapshot`), runs every rule of `posture.rules.RULES` and
stores the result idempotently: a finding is one row per rule and subject, updated by every
run that sees it, resolved by the first that does not, reopened when it comes back.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial
from uuid import UUID

from celery import current_app
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from audit.actions import Action
from audit.context import AuditContext
from audit.services import record_event
from core.errors import Conflict, DomainError, Invalid, NotAllowed, NotFound
from core.runs import start_exclusive_run
from keys.gateway import HsmError, HsmGateway, get_gateway
from keys.services.sync import POSTURE_TASK_NAME as EVALUATE_TASK_NAME
from posture import notify
from posture.models import (
    MAX_REASON_LENGTH,
    Finding,
    FindingState,
    PostureRun,
    RunStatus,
    Severity,
)
from posture.permissions import can_accept_risk, can_request_evaluation
from posture.rules import RULES, Hit, Rule
from posture.snapshot import HsmSnapshot, read_snapshot

STALE_RUN_AFTER = timedelta(minutes=15)
MANUAL_TRIGGER = "manual"


class EvaluationAlreadyRunning(Conflict):
    default_message = "A posture check is already running."


def start_evaluation(*, now: datetime, trigger: str) -> PostureRun:
    """Claim the one running evaluation. Raises EvaluationAlreadyRunning."""
    return start_exclusive_run(
        PostureRun,
        now=now,
        stale_after=STALE_RUN_AFTER,
        already_running=EvaluationAlreadyRunning,
        trigger=trigger,
        rules_total=len(RULES),
    )


def request_evaluation(*, user: User, now: datetime, ctx: AuditContext) -> PostureRun:
    """A posture check now (admins, custodians), run by a worker; audited.
    Raises NotAllowed, EvaluationAlreadyRunning."""
    decision = can_request_evaluation(user)
    if not decision:
        raise NotAllowed(decision.reason)
    run = start_evaluation(now=now, trigger=MANUAL_TRIGGER)
    with transaction.atomic():
        record_event(ctx, Action.POSTURE_EVALUATION_REQUESTED, target=run)
        transaction.on_commit(
            partial(current_app.send_task, EVALUATE_TASK_NAME, kwargs={"run_id": str(run.pk)})
        )
    return run


def evaluate_posture(
    *,
    ctx: AuditContext,
    now: datetime,
    run_id: UUID | None = None,
    trigger: str = "sync",
    gateway: HsmGateway | None = None,
) -> PostureRun:
    """Run every rule over a fresh reading of the HSM and store the findings; the run `run_id`
    (claimed by `request_evaluation`) or a new one. Mails custodians about new high findings
    after commit. Raises EvaluationAlreadyRunning, HsmError (the run then FAILED)."""
    if run_id is None:
        run = start_evaluation(now=now, trigger=trigger)
    else:
        run = PostureRun.objects.filter(pk=run_id).first()
        if run is None:
            raise NotFound(f"No posture run {run_id}.")
        if run.status != RunStatus.RUNNING:
            return run  # a repeat delivery of a run that finished
    try:
        snapshot = read_snapshot(gateway=gateway or get_gateway(), now=now)
        results = _run_rules(run, snapshot, now=now)
        with transaction.atomic():
            opened = store_findings(results, now=now, run=run)
            _finish(run, RunStatus.SUCCEEDED, ctx, now=now)
            high = [f for f in opened if f.severity == Severity.HIGH]
            transaction.on_commit(partial(notify.new_high_findings, high))
    except Exception as exc:
        message = exc.message if isinstance(exc, HsmError | DomainError) else type(exc).__name__
        with transaction.atomic():
            _finish(run, RunStatus.FAILED, ctx, now=now, error=message)
        raise
    return run


def _run_rules(run: PostureRun, snapshot: HsmSnapshot, *, now: datetime):
    results: list[tuple[Rule, list[Hit]]] = []
    for done, rule in enumerate(RULES, start=1):
        results.append((rule, rule.check(snapshot)))
        run.rules_done = done  # the page polls the row; `_finish` saves the same count
        PostureRun.objects.filter(pk=run.pk).update(rules_done=done, heartbeat_at=timezone.now())
    return results


# What a run sets on a finding it sees again (a reopened one also loses its acceptance).
FINDING_FIELDS_SEEN = [
    "resolved_at",
    "times_reopened",
    "accepted_until",
    "accepted_reason",
    "accepted_by",
    "accepted_at",
    "severity",
    "subject_kind",
    "summary",
    "evidence",
    "key_name",
    "principal_id",
    "last_seen",
]


def store_findings(results, *, now: datetime, run: PostureRun) -> list[Finding]:
    """Upsert one finding per (rule, subject) hit, resolve the rest; returns those opened
    (new, or back after being resolved). Runs in the caller's transaction."""
    stored = {(f.rule, f.subject): f for f in Finding.objects.select_for_update()}
    opened, seen, new, updated = [], set(), [], []
    for rule, hits in results:
        for hit in hits:
            seen.add((rule.id, hit.subject))
            finding = stored.get((rule.id, hit.subject))
            if finding is None:
                finding = Finding(rule=rule.id, subject=hit.subject, first_seen=now)
                opened.append(finding)
                new.append(finding)
            else:
                updated.append(finding)
            if finding.resolved_at is not None:  # back: a new occurrence, nothing accepted
                finding.resolved_at, finding.times_reopened = None, finding.times_reopened + 1
                finding.accepted_until, finding.accepted_reason = None, ""
                finding.accepted_by, finding.accepted_at = None, None
                opened.append(finding)
            finding.severity, finding.subject_kind = rule.severity, hit.subject_kind
            finding.summary, finding.evidence = hit.summary[:500], hit.evidence
            finding.key_name, finding.principal_id = hit.key_name, hit.principal_id
            finding.last_seen = now
    # One INSERT for the new findings, one UPDATE for the others, one for those resolved.
    Finding.objects.bulk_create(new)
    Finding.objects.bulk_update(updated, FINDING_FIELDS_SEEN)
    gone = [f for key, f in stored.items() if key not in seen and f.resolved_at is None]
    Finding.objects.filter(pk__in=[f.pk for f in gone]).update(resolved_at=now)
    run.findings_new, run.findings_resolved = len(opened), len(gone)
    run.findings_open = len(seen)
    return opened


def _finish(run: PostureRun, status: str, ctx: AuditContext, *, now, error: str = "") -> None:
    run.status, run.error, run.finished_at, run.heartbeat_at = status, error, now, now
    run.save()
    record_event(
        ctx,
        Action.POSTURE_EVALUATED,
        target=run,
        after={
            "status": status,
            "trigger": run.trigger,
            "findings": run.findings_open,
            "new": run.findings_new,
            "resolved": run.findings_resolved,
            "error": error,
        },
    )


@transaction.atomic
def accept_risk(
    *,
    finding_id: int,
    user: User,
    reason: str,
    expires_at: datetime,
    now: datetime,
    ctx: AuditContext,
) -> Finding:
    """Accept an open finding as a risk until `expires_at` (at most POSTURE_MAX_ACCEPTANCE_DAYS
    ahead), with a reason; audited. Raises NotAllowed, Invalid, Conflict (resolved)."""
    finding = Finding.objects.select_for_update().get(pk=finding_id)
    decision = can_accept_risk(user)
    if not decision:
        raise NotAllowed(decision.reason)
    if finding.state_at(now) == FindingState.RESOLVED:
        raise Conflict("This finding is resolved: there is no risk left to accept.")
    errors = acceptance_errors(reason=reason, expires_at=expires_at, now=now)
    if errors:
        raise Invalid(errors, "The risk acceptance is not valid.")
    before = {"accepted_until": _iso(finding.accepted_until), "reason": finding.accepted_reason}
    finding.accepted_until, finding.accepted_reason = expires_at, reason.strip()
    finding.accepted_by, finding.accepted_at = user, now
    finding.save()
    record_event(
        ctx,
        Action.POSTURE_RISK_ACCEPTED,
        target=finding,
        before=before,
        after={
            "rule": finding.rule,
            "subject": finding.subject,
            "accepted_until": _iso(expires_at),
            "reason": finding.accepted_reason,
        },
    )
    return finding


def acceptance_errors(*, reason: str, expires_at: datetime, now: datetime) -> dict[str, list]:
    """The rules of an acceptance, field by field (the API and the page share them)."""
    errors: dict[str, list[str]] = {}
    if not reason.strip():
        errors["reason"] = ["Say why the risk is accepted."]
    elif len(reason) > MAX_REASON_LENGTH:
        errors["reason"] = [f"At most {MAX_REASON_LENGTH} characters."]
    longest = timedelta(days=settings.POSTURE_MAX_ACCEPTANCE_DAYS)
    if expires_at <= now:
        errors["expires_at"] = ["Must be in the future."]
    elif expires_at > now + longest:
        errors["expires_at"] = [
            f"At most {settings.POSTURE_MAX_ACCEPTANCE_DAYS} days ahead "
            "(POSTURE_MAX_ACCEPTANCE_DAYS): accepted risks are reviewed again."
        ]
    return errors


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
