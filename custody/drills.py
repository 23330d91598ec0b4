"""A recovery rehearsal as a job: `start_rehearsal` keeps what the drill needs in a
`RehearsalRun` (one at a time) and `run_rehearsal` runs it (`custody.rehearsal`), then empties
the holders' restore blob and the file from the row. The portal queues the run for a worker
(`custody.rehearse_recovery`); `manage.py rehearse_recovery` runs it in its own process. Both
take the proof as typed (`proof_from`)."""

from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import datetime, timedelta
from functools import partial

from celery import current_app
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from audit.actions import Action
from audit.context import AuditContext
from audit.services import record_event
from core.errors import Conflict, Invalid, NotAllowed
from core.runs import start_exclusive_run
from custody.models import RehearsalRun, RehearsalRunStatus
from custody.permissions import can_rehearse_recovery
from custody.rehearsal import SignatureProof, rehearse_recovery

RUN_TASK_NAME = "custody.rehearse_recovery"
# A run whose worker died is given up after this long (the scratch drill takes seconds).
STALE_AFTER = timedelta(minutes=15)


class RehearsalAlreadyRunning(Conflict):
    default_message = (
        "A recovery rehearsal is running already: wait for its outcome before starting another."
    )


def proof_from(name: str, version: str, algorithm: str, digest: str, signature: str):
    """The signature made before the drill, as typed: `digest` hex, `signature` base64.
    Raises Invalid."""
    try:
        digest_bytes = bytes.fromhex(digest.strip())
        signature_bytes = base64.b64decode(signature.strip(), validate=True)
    except (ValueError, binascii.Error) as exc:
        raise Invalid("The digest is hex and the signature base64.") from exc
    return SignatureProof(name, version, algorithm, digest_bytes, signature_bytes)


def start_rehearsal(
    *,
    user: User,
    scratch_url: str,
    restore_blob: str,
    file_value: str,
    shares_used: int,
    proof: SignatureProof,
    now: datetime,
    ctx: AuditContext,
    queue: bool = True,
) -> RehearsalRun:
    """Keep a run for `user` (an admin or custodian) and, with `queue`, send it to a worker
    on commit. Raises NotAllowed, Conflict (no scratch HSM), RehearsalAlreadyRunning."""
    decision = can_rehearse_recovery(user)
    if not decision:
        raise NotAllowed(decision.reason)
    if not scratch_url:
        raise Conflict(
            "No scratch HSM is set: CUSTODY_SCRATCH_HSM_URL names the HSM (not activated) a "
            "rehearsal restores into."
        )
    with transaction.atomic():
        run = start_exclusive_run(
            RehearsalRun,
            now=now,
            stale_after=STALE_AFTER,
            already_running=RehearsalAlreadyRunning,
            started_by=user,
            scratch_hsm_url=scratch_url,
            shares_used=shares_used,
            restore_blob=restore_blob,
            restore_blob_sha256=hashlib.sha256(restore_blob.encode()).hexdigest(),
            file_value=file_value,
            proof={
                "name": proof.name,
                "version": proof.version,
                "algorithm": proof.algorithm,
                "digest": proof.digest.hex(),
                "signature": base64.b64encode(proof.signature).decode(),
            },
        )
        record_event(
            ctx,
            Action.CUSTODY_REHEARSAL_STARTED,
            target=run,
            after={
                "scratch_hsm": scratch_url,
                "shares_used": shares_used,
                "restore_blob_sha256": run.restore_blob_sha256,
                "proof_key": proof.name,
                "proof_version": proof.version,
            },
        )
        if queue:
            transaction.on_commit(
                partial(current_app.send_task, RUN_TASK_NAME, kwargs={"run_id": str(run.pk)})
            )
    return run


def run_rehearsal(run_id: str, *, ctx: AuditContext, **drill) -> RehearsalRun:
    """Run the drill of a running run once (a finished one is left as it is) and empty its
    restore blob and file, whatever the outcome. `drill`: `rehearse_recovery`'s gateway and
    clock (tests)."""
    run = RehearsalRun.objects.select_related("started_by").get(pk=run_id)
    if not run.is_running:
        return run
    rehearsal, status, error = None, RehearsalRunStatus.DONE, ""
    try:
        proof = proof_from(**run.proof)
        rehearsal = rehearse_recovery(
            scratch_url=run.scratch_hsm_url,
            restore_blob=run.restore_blob,
            file_value=run.file_value,
            shares_used=run.shares_used,
            proof=proof,
            recorded_by=run.started_by,
            ctx=ctx,
            **drill,
        )
    except Exception as exc:
        status, error = RehearsalRunStatus.FAILED, f"The rehearsal could not run: {exc}"
        raise
    finally:
        RehearsalRun.objects.filter(pk=run.pk).update(
            status=status,
            error=error,
            rehearsal=rehearsal,
            restore_blob="",
            file_value="",
            finished_at=timezone.now(),
        )
        run.refresh_from_db()
    return run


def latest_run() -> RehearsalRun | None:
    return RehearsalRun.objects.select_related("rehearsal").first()
