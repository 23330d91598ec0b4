"""A recovery rehearsal: the security domain restored into a scratch HSM with a quorum of the
holders' shares, then proof that the keys came back (a signature made before the drill
verifies with the same key in the scratch HSM). The outcome and time taken are recorded,
a failure with the reason. The holders make the restore blob themselves, offline, from the
file and the scratch HSM's transfer key (`scratch_transfer_key`)."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from accounts.models import User
from audit.context import AuditContext
from custody.models import Rehearsal
from custody.services import record_rehearsal
from keys.gateway import HsmError, HsmGateway, build_gateway

# Lets the ceremony identity (an Administrator, who has no key rights) verify with the proof
# key in the scratch HSM, on that one key only.
CRYPTO_USER_ROLE = (
    "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/"
    "21dbd100-6940-42c2-9190-5d6cb909625b"
)


@dataclass(frozen=True)
class SignatureProof:
    """A signature the key `name`/`version` made before the drill, over `digest`."""

    name: str
    version: str
    algorithm: str
    digest: bytes
    signature: bytes


def scratch_gateway(scratch_url: str) -> HsmGateway:
    """The scratch HSM, reached as the ceremony identity."""
    return build_gateway(object_id=settings.HSM_CEREMONY_PRINCIPAL_ID, url=scratch_url)


def scratch_transfer_key(*, scratch_url: str, gateway: HsmGateway | None = None) -> dict:
    """The key the holders wrap their restore blob to (`{"x5c": [...]}`)."""
    return (gateway or scratch_gateway(scratch_url)).security_domain_transfer_key()


def rehearse_recovery(
    *,
    scratch_url: str,
    restore_blob: str,
    file_value: str,
    shares_used: int,
    proof: SignatureProof,
    recorded_by: User,
    ctx: AuditContext,
    gateway: HsmGateway | None = None,
    clock: Callable[[], float] = time.monotonic,
    now: datetime | None = None,
) -> Rehearsal:
    """Upload the holders' restore blob into the scratch HSM and check the proof signature
    there; record the outcome (a refused upload or a signature that does not verify is a
    failed rehearsal, with the reason) and the time taken."""
    gateway = gateway or scratch_gateway(scratch_url)
    started_at, started = now or timezone.now(), clock()
    try:
        succeeded, detail = _drill(gateway, restore_blob, proof)
    except HsmError as error:
        succeeded, detail = False, f"The scratch HSM refused the recovery: {error.message}"
    return record_rehearsal(
        recorded_by=recorded_by,
        scratch_hsm_url=scratch_url,
        file_sha256=hashlib.sha256(file_value.encode()).hexdigest(),
        shares_used=shares_used,
        started_at=started_at,
        finished_at=started_at + timedelta(seconds=clock() - started),
        succeeded=succeeded,
        detail=detail,
        ctx=ctx,
    )


def _drill(gateway: HsmGateway, restore_blob: str, proof: SignatureProof) -> tuple[bool, str]:
    gateway.upload_security_domain(restore_blob)
    gateway.create_role_assignment(
        scope=f"/keys/{proof.name}",
        role_definition_id=CRYPTO_USER_ROLE,
        principal_id=settings.HSM_CEREMONY_PRINCIPAL_ID,
        name=str(uuid.uuid4()),
    )
    verified = gateway.verify_signature(
        proof.name,
        proof.version,
        algorithm=proof.algorithm,
        digest=proof.digest,
        signature=proof.signature,
    )
    if not verified:
        return False, (
            f"Recovered, but key {proof.name} ({proof.version}) does not verify the signature "
            "made before the drill: these are not the same keys."
        )
    return True, (
        f"Recovered; key {proof.name} ({proof.version}) verified the signature made before "
        "the drill."
    )
