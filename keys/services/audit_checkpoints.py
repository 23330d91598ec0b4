"""Audit checkpoints wired to the HSM: the signer and the public keys come from the gateway.

`audit` sits below `keys` and never imports it; these functions hand `audit.services` and
`audit.trail_selectors` the two callables they take (STYLE §1).
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from django.conf import settings

from audit.checkpoints import KeyUnavailable, PublicKeyLookup, Signature
from audit.context import AuditContext
from audit.models import AuditCheckpoint, VerificationRun
from audit.services import record_checkpoint
from audit.trail_selectors import TrailReport, verify_trail
from audit.verification import run_verification
from keys.gateway import HsmError, HsmNotFound, HsmSigner, get_audit_signer


def checkpoint_audit_trail(
    *, now: datetime, force: bool = False, signer: HsmSigner | None = None
) -> AuditCheckpoint | None:
    """Sign a checkpoint of the chain head if one is due (AUDIT_CHECKPOINT_EVENTS/_SECONDS);
    see `audit.services.record_checkpoint`. Idempotent; raises ChainBroken, HsmError."""
    signer = signer or get_audit_signer()
    return record_checkpoint(
        sign=lambda digest: _signature(signer, digest),
        now=now,
        every_events=settings.AUDIT_CHECKPOINT_EVENTS,
        every_seconds=settings.AUDIT_CHECKPOINT_SECONDS,
        file_path=settings.AUDIT_CHECKPOINT_FILE,
        force=force,
    )


def verify_audit_trail(
    *,
    expect_head: tuple[int, str] | None = None,
    file_path: str | None = None,
    chunk_size: int = 5000,
    on_progress=None,
    signer: HsmSigner | None = None,
    processes: int = 1,
) -> TrailReport:
    """`audit.trail_selectors.verify_trail` with public keys read from the HSM (only versions of the
    checkpoint key count). Raises HsmError when the HSM cannot be asked."""
    return verify_trail(
        public_key_for=checkpoint_public_keys(signer),
        file_path=settings.AUDIT_CHECKPOINT_FILE if file_path is None else file_path,
        expect_head=expect_head,
        chunk_size=chunk_size,
        on_progress=on_progress,
        processes=processes,
    )


def run_audit_verification(
    *, run_id: UUID, ctx: AuditContext, signer: HsmSigner | None = None
) -> VerificationRun:
    """`audit.verification.run_verification` anchored on signed checkpoints whose signature the
    HSM's public key confirms; an HSM that cannot be asked only means an older anchor (more
    events read), never a skipped check."""
    lookup = checkpoint_public_keys(signer)

    def public_key_for(key_id: str):
        try:
            return lookup(key_id)
        except HsmError as exc:
            raise KeyUnavailable(f"the HSM cannot be asked ({exc.message})") from None

    return run_verification(run_id=run_id, ctx=ctx, public_key_for=public_key_for)


def checkpoint_public_keys(signer: HsmSigner | None = None) -> PublicKeyLookup:
    """key id → public key, for versions of AUDIT_CHECKPOINT_KEY_NAME on this HSM only; the
    signer is built on first use, so a trail without checkpoints never calls the HSM."""

    def lookup(key_id: str):
        hsm = signer or get_audit_signer()
        prefix = f"{hsm.url}/keys/{hsm.key_name}/"
        version = key_id.removeprefix(prefix)
        if not key_id.startswith(prefix) or not version or "/" in version:
            raise KeyUnavailable(f"it is not a version of the checkpoint key {prefix[:-1]}")
        try:
            return hsm.get_public_key(version)
        except HsmNotFound as exc:
            raise KeyUnavailable(f"the HSM has no such key version ({exc.message})") from None

    return lookup


def _signature(signer: HsmSigner, digest: bytes) -> Signature:
    signed = signer.sign_digest(digest)
    return Signature(key_id=signed.key_id, algorithm=signed.algorithm, value=signed.signature)
