"""Writes to the custody register. Register changes and full backups arrive only through
approved change requests (approvals.operations), recorded here in the worker's record
transaction; possession confirmations come from the holder themself. Every write is audited."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from django.conf import settings
from django.db import transaction

from accounts.models import User
from audit.actions import Action
from audit.context import AuditContext
from audit.services import record_event
from core.decisions import ensure_allowed
from core.errors import Conflict, NotFound
from custody import rules
from custody.challenges import verify_challenge
from custody.models import (
    FullBackup,
    Holder,
    PossessionConfirmation,
    Rehearsal,
    RehearsalOutcome,
    SecurityDomain,
)
from custody.permissions import can_confirm_possession
from custody.selectors import active_holders
from custody.warnings import CustodyWarning, custody_warnings


def ensure_register(hsm_url: str | None = None) -> SecurityDomain:
    """The register of `hsm_url` (default: the configured HSM), made empty on first use."""
    register, _ = SecurityDomain.objects.get_or_create(hsm_url=hsm_url or settings.HSM_URL)
    return register


def _locked_register() -> SecurityDomain:
    register = ensure_register()
    return SecurityDomain.objects.select_for_update().get(pk=register.pk)


def _holder_facts(holder: Holder) -> dict:
    return {
        "person": holder.person,
        "user": holder.user.username if holder.user else None,
        "token_type": holder.token_type,
        "site": holder.site,
        "thumbprint": holder.thumbprint,
        "certificate_expires_at": holder.certificate_expires_at.isoformat(),
    }


def _request(request_id: UUID | None) -> str | None:
    """The change request a register change came through (None: the demo seed)."""
    return str(request_id) if request_id else None


def _ensure_still_holds(register: SecurityDomain, holders: int) -> None:
    problem = rules.quorum_problem(register.quorum, holders) or rules.holder_count_problem(holders)
    if problem:
        raise Conflict(problem)


def add_holder(
    *, params: dict, request_id: UUID | None, now: datetime, ctx: AuditContext
) -> Holder:
    """Add the holder an approved custody.add_holder request names (a repeat finds it)."""
    register = _locked_register()
    existing = active_holders(register).filter(thumbprint=params["thumbprint"]).first()
    if existing is not None:
        return existing
    _ensure_still_holds(register, active_holders(register).count() + 1)
    holder = Holder.objects.create(
        security_domain=register,
        person=params["person"],
        user=User.objects.filter(username=params["user"]).first() if params.get("user") else None,
        token_type=params["token_type"],
        site=params["site"],
        certificate_pem=params["certificate_pem"],
        thumbprint=params["thumbprint"],
        certificate_expires_at=datetime.fromisoformat(params["certificate_expires_at"]),
        added_at=now,
    )
    record_event(
        ctx,
        Action.CUSTODY_HOLDER_ADDED,
        target=holder,
        after={**_holder_facts(holder), "request": _request(request_id)},
    )
    return holder


def remove_holder(
    *, params: dict, request_id: UUID | None, now: datetime, ctx: AuditContext
) -> None:
    """Take the holder off the register (kept, marked removed): the next security domain
    download no longer wraps a share to them. Refuses to go below the quorum."""
    register = _locked_register()
    holder = active_holders(register).filter(thumbprint=params["thumbprint"]).first()
    if holder is None:
        return  # removed by an earlier attempt
    _ensure_still_holds(register, active_holders(register).count() - 1)
    Holder.objects.filter(pk=holder.pk).update(removed_at=now)
    record_event(
        ctx,
        Action.CUSTODY_HOLDER_REMOVED,
        target=holder,
        before=_holder_facts(holder),
        after={"removed_at": now.isoformat(), "request": _request(request_id)},
    )


def replace_certificate(
    *, params: dict, request_id: UUID | None, now: datetime, ctx: AuditContext
) -> None:
    """Give a holder a new certificate (a renewed token): thumbprint and expiry read from it."""
    register = _locked_register()
    holder = active_holders(register).filter(thumbprint=params["thumbprint"]).first()
    if holder is None:
        return  # replaced by an earlier attempt (the old thumbprint is gone)
    before = _holder_facts(holder)
    holder.certificate_pem = params["certificate_pem"]
    holder.thumbprint = params["new_thumbprint"]
    holder.certificate_expires_at = datetime.fromisoformat(params["certificate_expires_at"])
    holder.save(update_fields=["certificate_pem", "thumbprint", "certificate_expires_at"])
    record_event(
        ctx,
        Action.CUSTODY_CERTIFICATE_REPLACED,
        target=holder,
        before=before,
        after={**_holder_facts(holder), "request": _request(request_id)},
    )


def set_quorum(*, params: dict, request_id: UUID | None, now: datetime, ctx: AuditContext) -> None:
    """Set M, the number of holders a recovery needs. Refuses M < 2 or M > the holders."""
    register = _locked_register()
    problem = rules.quorum_problem(params["quorum"], active_holders(register).count())
    if problem:
        raise Conflict(problem)
    before, register.quorum = register.quorum, params["quorum"]
    register.save(update_fields=["quorum"])
    record_event(
        ctx,
        Action.CUSTODY_QUORUM_SET,
        target=register,
        before={"quorum": before},
        after={"quorum": register.quorum, "request": _request(request_id)},
    )


def record_activation(
    *,
    request_id: UUID,
    file_sha256: str,
    file_name: str,
    witnesses: list[str],
    now: datetime,
    ctx: AuditContext,
) -> SecurityDomain:
    """Fill the activation record after a download ceremony (a repeat changes nothing)."""
    register = _locked_register()
    if register.activation_request_id == request_id:
        return register
    register.activated_at = now
    register.file_sha256, register.file_name = file_sha256, file_name
    register.witnesses, register.activation_request_id = witnesses, request_id
    register.save()
    record_event(
        ctx,
        Action.CUSTODY_ACTIVATED,
        target=register,
        after={
            "request": str(request_id),
            "file_sha256": file_sha256,
            "file_name": file_name,
            "witnesses": witnesses,
            "quorum": register.quorum,
            "holders": [h.thumbprint for h in active_holders(register)],
        },
    )
    return register


@transaction.atomic
def record_full_backup(
    *,
    request_id: UUID,
    container_url: str,
    folder_url: str,
    now: datetime,
    ctx: AuditContext,
) -> FullBackup:
    """Record the full backup an `hsm.full_backup` request ran (a repeat changes nothing)."""
    backup, created = FullBackup.objects.get_or_create(
        request_id=request_id,
        defaults={"container_url": container_url, "folder_url": folder_url, "finished_at": now},
    )
    if created:
        record_event(
            ctx,
            Action.CUSTODY_FULL_BACKUP_RECORDED,
            target=backup,
            after={"request": str(request_id), "container": container_url, "folder": folder_url},
        )
    return backup


@transaction.atomic
def confirm_possession(
    *,
    holder_id: UUID,
    user: User,
    now: datetime,
    ctx: AuditContext,
    nonce: str = "",
    signature: str = "",
) -> PossessionConfirmation:
    """The holder's "I still hold my token", recorded with its time; signed when a nonce
    and the token key's signature of it come along (custody.challenges). Raises NotFound,
    NotAllowed (not the holder themself), Conflict (removed holder), Invalid (a signature
    that does not verify: nothing is recorded)."""
    holder = Holder.objects.select_for_update().filter(pk=holder_id).first()
    if holder is None:
        raise NotFound("No such key holder.")
    ensure_allowed(can_confirm_possession(user, holder))
    if nonce or signature:
        verify_challenge(holder, nonce=nonce, signature=signature)
    confirmation = PossessionConfirmation.objects.create(
        holder=holder, confirmed_by=user, confirmed_at=now, is_signed=bool(signature)
    )
    record_event(
        ctx,
        Action.CUSTODY_POSSESSION_CONFIRMED,
        target=holder,
        after={
            "person": holder.person,
            "confirmed_at": now.isoformat(),
            "signed": confirmation.is_signed,
        },
    )
    return confirmation


@transaction.atomic
def record_rehearsal(
    *,
    recorded_by: User,
    scratch_hsm_url: str,
    file_sha256: str,
    shares_used: int,
    started_at: datetime,
    finished_at: datetime,
    succeeded: bool,
    detail: str,
    ctx: AuditContext,
) -> Rehearsal:
    """Keep the outcome and time taken of one recovery drill."""
    rehearsal = Rehearsal.objects.create(
        security_domain=ensure_register(),
        scratch_hsm_url=scratch_hsm_url,
        file_sha256=file_sha256,
        shares_used=shares_used,
        started_at=started_at,
        finished_at=finished_at,
        outcome=RehearsalOutcome.SUCCEEDED if succeeded else RehearsalOutcome.FAILED,
        detail=detail,
        recorded_by=recorded_by,
    )
    record_event(
        ctx,
        Action.CUSTODY_REHEARSAL_RECORDED,
        target=rehearsal,
        after={
            "scratch_hsm": scratch_hsm_url,
            "outcome": rehearsal.outcome,
            "shares_used": shares_used,
            "seconds": rehearsal.seconds_taken,
            "detail": detail,
        },
    )
    return rehearsal


@transaction.atomic
def evaluate_warnings(*, now: datetime, ctx: AuditContext) -> list[CustodyWarning]:
    """Evaluate the register's warnings at `now`; those not raised by the last evaluation are
    audited and returned (for notifications). Safe to run late, twice or concurrently."""
    register = _locked_register()
    found = custody_warnings(register, now=now)
    new = [w for w in found if w.code not in set(register.warning_codes)]
    for warning in new:
        record_event(ctx, Action.CUSTODY_WARNING_RAISED, target=register, after=warning.as_dict())
    register.warning_codes = [w.code for w in found]
    register.warnings_evaluated_at = now
    register.save(update_fields=["warning_codes", "warnings_evaluated_at"])
    return new
