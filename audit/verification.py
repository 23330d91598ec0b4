"""Verification of the chain as a job (STYLE §4): start a run, walk its range, record the result.

A run checks only events after an anchor someone already vouched for: the end of the last OK
run, or a newer signed checkpoint whose signature verifies (checked by the caller's
`public_key_for`, the HSM's public keys: `keys` wires them). The anchor event must still carry
the hash that was vouched for, and the first event after it must link to it; `full` re-checks
from genesis. Nothing here runs in an HTTP request: the API and page read the latest run.
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime, timedelta
from functools import partial

from celery import current_app
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from audit import chain, checkpoints
from audit.actions import Action
from audit.chain_selectors import verify_chain
from audit.context import AuditContext
from audit.models import AuditCheckpoint, AuditEvent, VerificationRun, VerificationStatus
from audit.permissions import can_verify_audit
from audit.selectors import chain_head, unsealed_backlog
from audit.services import record_event
from core.errors import Conflict, DomainError, NotAllowed
from core.runs import start_exclusive_run

# The task that runs a verification lives in `keys` (checkpoint signatures need the HSM), which
# `audit` may not import: it is sent by this name, a wire contract (keys.tasks uses it).
RUN_TASK_NAME = "keys.run_audit_verification"
STALE_RUN_AFTER = timedelta(minutes=15)
CHUNK_SIZE = 5000
MANUAL_TRIGGER = "manual"


class VerificationAlreadyRunning(Conflict):
    default_message = "A verification of the audit trail is already running."


def start_verification(
    *, now: datetime, full: bool = False, trigger: str = "schedule", started_by: User | None = None
) -> VerificationRun:
    """Claim the one running verification: a RUNNING run from the anchor to the chain's head.

    A run without a heartbeat for STALE_RUN_AFTER is marked FAILED first (its worker died).
    Raises VerificationAlreadyRunning. Opens its own short transactions."""
    anchor, from_sequence, from_hash = _run_anchor(full)
    head, _ = chain_head() or (None, None)  # sealed events only: the chain
    backlog = unsealed_backlog()
    return start_exclusive_run(
        VerificationRun,
        now=now,
        stale_after=STALE_RUN_AFTER,
        already_running=VerificationAlreadyRunning,
        trigger=trigger,
        started_by=started_by,
        is_full=full,
        anchor=anchor,
        from_sequence=from_sequence,
        from_hash=from_hash,
        # Behind the anchor (events removed): the run reads nothing, the anchor breaks.
        to_sequence=max(head or 0, from_sequence),
        unsealed_count=backlog.count,
        oldest_unsealed_at=backlog.oldest_at,
    )


def request_verification(*, user: User, now: datetime, full: bool = False) -> VerificationRun:
    """`start_verification` for a user (auditors and admins), its run queued on commit.

    Raises NotAllowed, VerificationAlreadyRunning."""
    decision = can_verify_audit(user)
    if not decision:
        raise NotAllowed(decision.reason)
    with transaction.atomic():
        run = start_verification(now=now, full=full, trigger=MANUAL_TRIGGER, started_by=user)
        transaction.on_commit(
            partial(current_app.send_task, RUN_TASK_NAME, kwargs={"run_id": str(run.pk)})
        )
    return run


def _run_anchor(full: bool) -> tuple[str, int, str]:
    """Where a run starts: genesis for `full`, else the end of the last OK run."""
    last_ok = (
        VerificationRun.objects.filter(status=VerificationStatus.OK)
        .order_by("-to_sequence", "-started_at")
        .first()
    )
    if full or last_ok is None:
        return "genesis", 0, chain.GENESIS_HASH
    return "run", last_ok.to_sequence, last_ok.head_hash


def run_verification(
    *,
    run_id: uuid.UUID,
    ctx: AuditContext,
    public_key_for: checkpoints.PublicKeyLookup | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> VerificationRun:
    """Walk the run's range, saving progress every chunk, and finish it OK, BROKEN or FAILED
    with an `audit.verified` event. A run no longer RUNNING is returned as is (redelivery).

    `public_key_for`: with it, a newer signed checkpoint that verifies moves the anchor up.
    Unexpected errors finish the run FAILED and pass through. Call outside a transaction."""
    run = VerificationRun.objects.get(pk=run_id)
    if run.status != VerificationStatus.RUNNING:
        return run
    try:
        if public_key_for is not None and not run.is_full:
            _advance_to_checkpoint(run, public_key_for)
        report = _verify_range(run, chunk_size)
    except Exception as exc:
        _finish(run, ctx, VerificationStatus.FAILED, error=_failure_summary(exc))
        raise
    status = VerificationStatus.OK if report.valid else VerificationStatus.BROKEN
    return _finish(run, ctx, status, report=report)


def _advance_to_checkpoint(run: VerificationRun, public_key_for) -> None:
    """The newest checkpoint inside the run's range becomes its anchor if its signature holds."""
    record = (
        AuditCheckpoint.objects.filter(
            head_sequence__gt=run.from_sequence, head_sequence__lte=run.to_sequence
        )
        .order_by("-number")
        .values(*checkpoints.FILE_FIELDS)
        .first()
    )
    if record is None:
        return
    record["signed_at"] = chain.format_timestamp(record["signed_at"])
    if checkpoints.signature_problem(record, public_key_for) is not None:
        return  # not vouched for: verify from the older anchor (audit_verify reports it)
    run.anchor = "checkpoint"
    run.from_sequence, run.from_hash = record["head_sequence"], record["head_hash"]
    run.save(update_fields=["anchor", "from_sequence", "from_hash"])


def _verify_range(run: VerificationRun, chunk_size: int) -> chain.ChainReport:
    report = verify_chain(
        chunk_size=chunk_size,
        on_progress=partial(_record_progress, run),
        after=(run.from_sequence, run.from_hash),
        up_to=run.to_sequence,
    )
    first_broken = _anchor_problem(run) or report.first_broken or _tail_problem(run, report)
    return dataclasses.replace(report, first_broken=first_broken)


def _tail_problem(run: VerificationRun, report: chain.ChainReport) -> chain.ChainBreak | None:
    """Events up to the head seen at the start must still be there when read."""
    last_read = report.head_sequence or run.from_sequence
    if last_read >= run.to_sequence:
        return None
    detail = f"the chain ended at event {run.to_sequence} when the run started, now at {last_read}"
    return chain.ChainBreak(last_read + 1, chain.GAP, detail)


def _anchor_problem(run: VerificationRun) -> chain.ChainBreak | None:
    """The anchor event must still exist with the hash the anchor vouched for."""
    if run.from_sequence == 0:
        return None
    stored = AuditEvent.objects.filter(sequence=run.from_sequence).values_list("hash", flat=True)
    found = stored.first()
    if found is None:
        detail = f"event {run.from_sequence}, verified by an earlier {run.anchor}, is missing"
        return chain.ChainBreak(run.from_sequence, chain.GAP, detail)
    if found != run.from_hash:
        detail = f"the hash differs from the one an earlier {run.anchor} verified"
        return chain.ChainBreak(run.from_sequence, chain.HASH_MISMATCH, detail)
    return None


def _record_progress(run: VerificationRun, count: int) -> None:
    run.events_checked += count
    VerificationRun.objects.filter(pk=run.pk, status=VerificationStatus.RUNNING).update(
        events_checked=run.events_checked, heartbeat_at=timezone.now()
    )


def _failure_summary(exc: Exception) -> str:
    """What the page may show: a domain error's message, else only the type (details logged)."""
    if isinstance(exc, DomainError):
        return f"{type(exc).__name__}: {exc.message}"
    return f"{type(exc).__name__} (details in the log)"


def _finish(
    run: VerificationRun,
    ctx: AuditContext,
    status: VerificationStatus,
    *,
    report: chain.ChainReport | None = None,
    error: str = "",
) -> VerificationRun:
    """Record the result, only while the run is still RUNNING (one declared abandoned meanwhile
    writes nothing), with its `audit.verified` event."""
    broken = report.first_broken if report is not None else None
    result = {"status": status, "error": error, "finished_at": timezone.now()}
    if report is not None:
        result.update(
            events_checked=report.events_checked, head_hash=report.head_hash or run.from_hash
        )
    if broken is not None:
        result.update(
            broken_sequence=broken.sequence,
            broken_reason=broken.reason,
            broken_detail=broken.detail,
        )
    with transaction.atomic():
        claimed = VerificationRun.objects.filter(pk=run.pk, status=VerificationStatus.RUNNING)
        if not claimed.update(**result):
            run.refresh_from_db()
            return run
        run.refresh_from_db()
        record_event(
            ctx,
            Action.AUDIT_VERIFIED,
            target=run,
            after={
                "status": status,
                "from_sequence": run.from_sequence,
                "to_sequence": run.to_sequence,
                "events_checked": run.events_checked,
                "broken_sequence": run.broken_sequence,
                "unsealed_count": run.unsealed_count,
                "error": error,
            },
        )
    return run
