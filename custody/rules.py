"""The register's rules, one home for each: the operations check them at submission, the
services again when they apply a change, the pages explain them."""

from __future__ import annotations

from datetime import datetime

from custody.models import MAX_HOLDERS, MIN_HOLDERS_FOR_ACTIVATION, MIN_QUORUM, SecurityDomain

QUORUM_TOO_SMALL = (
    "The quorum must be at least {minimum}: with fewer, one holder alone could recover every "
    "key in the HSM."
)
QUORUM_TOO_LARGE = (
    "A quorum of {quorum} is larger than the {holders} holder(s) in the register: the security "
    "domain could never be recovered. Add holders first, or lower the quorum."
)


def quorum_problem(quorum: int | None, holders: int) -> str | None:
    """Why `quorum` of `holders` cannot stand (None: it can; an unset quorum can)."""
    if quorum is None:
        return None
    if quorum < MIN_QUORUM:
        return QUORUM_TOO_SMALL.format(minimum=MIN_QUORUM)
    if quorum > holders:
        return QUORUM_TOO_LARGE.format(quorum=quorum, holders=holders)
    return None


def holder_count_problem(holders: int) -> str | None:
    """A security domain is wrapped to at most MAX_HOLDERS certificates."""
    if holders > MAX_HOLDERS:
        return f"A security domain has at most {MAX_HOLDERS} holders; this would make {holders}."
    return None


def activation_problems(
    register: SecurityDomain | None, holders: list, *, now: datetime
) -> list[str]:
    """Why the download ceremony cannot run now (empty: it can)."""
    problems = []
    if register is not None and register.is_activated:
        problems.append(
            f"The HSM was activated on {register.activated_at:%Y-%m-%d}; a security domain is "
            "downloaded once, at activation."
        )
    if len(holders) < MIN_HOLDERS_FOR_ACTIVATION:
        problems.append(
            f"Activation needs at least {MIN_HOLDERS_FOR_ACTIVATION} holders in the register; "
            f"it has {len(holders)}."
        )
    quorum = register.quorum if register is not None else None
    if quorum is None:
        problems.append("Set the quorum (custody.set_quorum) before the ceremony.")
    else:
        problem = quorum_problem(quorum, len(holders))
        if problem:
            problems.append(problem)
    for holder in holders:
        if holder.certificate_expires_at <= now:
            problems.append(
                f"The certificate of {holder.person} expired on "
                f"{holder.certificate_expires_at:%Y-%m-%d}; replace it first."
            )
    return problems
