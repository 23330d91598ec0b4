"""The demo's recovery posture, so that it starts with the two findings posture.demo makes to
look at and nothing else: the day's full backup taken through its dual-approved request
(heidi of the platform team asks, carol and dave approve, run at once in this process), and the
demo HSM's purge protection — off, so that the demo's purge request can run — accepted as a
risk by erin with that reason. Each step is skipped when already in place."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings

from accounts.models import User
from approvals.models import OPEN_STATES, ChangeRequest
from approvals.services.decide import approve_request
from approvals.services.execute import execute_request
from approvals.services.submit import submit_request
from audit.context import AuditContext
from custody.models import FullBackup
from keys.gateway import HsmGateway
from posture.models import Finding, FindingState
from posture.services import accept_risk, evaluate_posture

BACKUP_CONTAINER = "https://keywardendemo.blob.core.windows.net/hsm-backups"
WEAK_RECOVERY = "hsm.weak_recovery"
PURGE_PROTECTION_REASON = (
    "Demo HSM: purge protection stays off so that the demo's purge request can run. "
    "A production HSM has it on (it cannot be turned off again)."
)


def seed_demo_recovery(*, now: datetime, gateway: HsmGateway | None = None) -> list[str]:
    """Take the day's backup if due, evaluate the posture, accept the demo's purge-protection
    finding; returns what was done (for the demo's console)."""
    done = []
    if _backup_due(now):
        change = _take_backup(now)
        done.append(f"full backup {change.result.get('folder_url', '')} ({change.state})")
    evaluate_posture(
        ctx=AuditContext.system("rundemo"), now=now, trigger="rundemo", gateway=gateway
    )
    if _accept_purge_protection(now):
        done.append("purge protection off accepted as a risk")
    return done


def _backup_due(now: datetime) -> bool:
    max_age = timedelta(hours=settings.POSTURE_BACKUP_MAX_AGE_HOURS)
    if FullBackup.objects.filter(finished_at__gt=now - max_age).exists():
        return False
    return not ChangeRequest.objects.filter(
        operation="hsm.full_backup", state__in=OPEN_STATES
    ).exists()


def _take_backup(now: datetime) -> ChangeRequest:
    heidi, carol, dave = (User.objects.get(username=name) for name in ("heidi", "carol", "dave"))
    change = submit_request(
        requester=heidi,
        operation="hsm.full_backup",
        team=settings.CUSTODY_TEAM,
        justification=f"Daily full backup of the HSM ({now:%Y-%m-%d}).",
        params={"container_url": BACKUP_CONTAINER},
        ctx=AuditContext(actor=heidi),
    )
    for custodian in (carol, dave):
        approve_request(
            request_id=change.pk, custodian=custodian, comment="", ctx=AuditContext(actor=custodian)
        )
    # The demo's worker is not up yet; its later delivery of this request finds it finished.
    return execute_request(request_id=change.pk, ctx=AuditContext.system("rundemo"))


def _accept_purge_protection(now: datetime) -> bool:
    finding = Finding.objects.filter(rule=WEAK_RECOVERY, resolved_at__isnull=True).first()
    if finding is None or finding.state_at(now) != FindingState.OPEN:
        return False
    erin = User.objects.get(username="erin")
    accept_risk(
        finding_id=finding.pk,
        user=erin,
        reason=PURGE_PROTECTION_REASON,
        expires_at=now + timedelta(days=settings.POSTURE_MAX_ACCEPTANCE_DAYS),
        now=now,
        ctx=AuditContext(actor=erin),
    )
    return True
