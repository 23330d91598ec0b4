"""The custody register's warnings at a given `now`: certificates near expiry, too few holders
who confirmed possession lately, holders concentrated at one site. One function, used by the
periodic evaluation (custody.services.evaluate_warnings), the register page and the admin home."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from django.conf import settings

from custody.models import MIN_QUORUM, SecurityDomain
from custody.selectors import active_holders, confirmed_since


@dataclass(frozen=True)
class CustodyWarning:
    """One warning: a stable `code` (what the evaluation compares), a severity, a sentence."""

    code: str
    severity: str
    message: str

    def as_dict(self) -> dict:
        return asdict(self)


def custody_warnings(register: SecurityDomain | None, *, now: datetime) -> list[CustodyWarning]:
    """Every warning the register raises at `now`, most severe first (empty: none)."""
    holders = list(active_holders(register))
    if register is None or not holders:
        return []
    quorum = register.quorum or MIN_QUORUM
    found = [*_certificate_warnings(holders, now), *_site_warnings(holders, quorum)]
    possession = _possession_warning(holders, quorum, now)
    if possession:
        found.append(possession)
    return sorted(found, key=lambda w: (w.severity != "high", w.code))


def _certificate_warnings(holders, now: datetime) -> list[CustodyWarning]:
    horizon = now + timedelta(days=settings.CUSTODY_CERT_WARNING_DAYS)
    warnings = []
    for holder in holders:
        expires = holder.certificate_expires_at
        if expires > horizon:
            continue
        expired = expires <= now
        when = f"expired on {expires:%Y-%m-%d}" if expired else f"expires on {expires:%Y-%m-%d}"
        warnings.append(
            CustodyWarning(
                code=f"certificate_expiry:{holder.thumbprint}",
                severity="high" if expired else "medium",
                message=(
                    f"The certificate of {holder.person} ({holder.site}) {when}; replace it "
                    "(custody.replace_certificate) while the holder still has the token."
                ),
            )
        )
    return warnings


def _possession_warning(holders, quorum: int, now: datetime) -> CustodyWarning | None:
    days = settings.CUSTODY_ATTESTATION_DAYS
    confirmed = confirmed_since(holders, since=now - timedelta(days=days))
    if len(confirmed) >= quorum + 1:
        return None
    return CustodyWarning(
        code="possession",
        severity="high",
        message=(
            f"Only {len(confirmed)} of {len(holders)} holders confirmed possession of their "
            f"token in the last {days} days; at least {quorum + 1} (the quorum of {quorum} "
            "plus one spare) must, or losing one more token could lose every key."
        ),
    )


def _site_warnings(holders, quorum: int) -> list[CustodyWarning]:
    by_site = Counter(holder.site for holder in holders)
    warnings = [
        CustodyWarning(
            code=f"site_concentration:{site}",
            severity="medium",
            message=(
                f"{count} holders are at {site}, and the quorum is {quorum}: the people of one "
                f"site alone could recover the HSM. Keep at most {quorum - 1} at any one site."
            ),
        )
        for site, count in sorted(by_site.items())
        if count > quorum - 1
    ]
    if len(by_site) < 2:
        warnings.append(
            CustodyWarning(
                code="single_site",
                severity="medium",
                message=(
                    "Every holder is at one site: a single incident there could lose the "
                    "quorum. Spread the holders over at least two sites."
                ),
            )
        )
    return warnings
