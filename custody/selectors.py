"""Reads of the custody register (every page, API and operation starts here)."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db.models import Max, QuerySet

from custody.models import FullBackup, Holder, Rehearsal, SecurityDomain


def register_of(hsm_url: str | None = None) -> SecurityDomain | None:
    """The register of `hsm_url` (default: the configured HSM), or None before its first change."""
    return SecurityDomain.objects.filter(hsm_url=hsm_url or settings.HSM_URL).first()


def active_holders(register: SecurityDomain | None) -> QuerySet[Holder]:
    """The holders a security domain made now would be wrapped to, oldest first, each with
    `last_confirmed_at` (None: never confirmed)."""
    if register is None:
        return Holder.objects.none()
    return (
        Holder.objects.filter(security_domain=register, removed_at__isnull=True)
        .select_related("user")
        .annotate(last_confirmed_at=Max("confirmations__confirmed_at"))
        .order_by("added_at", "person")
    )


def active_holder(thumbprint: str, register: SecurityDomain | None = None) -> Holder | None:
    """The active holder whose certificate has `thumbprint` (matched in full)."""
    register = register or register_of()
    return active_holders(register).filter(thumbprint=thumbprint).first()


def rehearsals_of(register: SecurityDomain | None) -> QuerySet[Rehearsal]:
    if register is None:
        return Rehearsal.objects.none()
    return Rehearsal.objects.filter(security_domain=register)


def recent_backups() -> QuerySet[FullBackup]:
    """The full HSM backups Keywarden ran, newest first."""
    return FullBackup.objects.order_by("-finished_at", "-id")


def confirmed_since(holders, *, since: datetime) -> list[Holder]:
    """Those of `holders` (from `active_holders`) who confirmed possession after `since`."""
    return [h for h in holders if h.last_confirmed_at and h.last_confirmed_at > since]


def register_context(*, now: datetime) -> dict:
    """What the register page and API show at `now` (one place for both)."""
    from custody.warnings import custody_warnings  # warnings reads this module's selectors

    register = register_of()
    holders = list(active_holders(register))
    return {
        "register": register,
        "holders": holders,
        "warnings": custody_warnings(register, now=now),
        "rehearsals": list(rehearsals_of(register)[:20]),
        "attestation_days": settings.CUSTODY_ATTESTATION_DAYS,
        "now": now,
    }
