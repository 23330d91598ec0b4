"""What a permission predicate answers: `Allowed` or `Refused(reason)`, and `ensure_allowed`
turning a refusal into its error. Imports only core (the bottom layer), so every app's
`permissions` module can use it."""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import Conflict, NotAllowed


@dataclass(frozen=True)
class Allowed:
    """The user may do it now. Truthy."""

    def __bool__(self) -> bool:
        return True


@dataclass(frozen=True)
class Refused:
    """The user may not do it now; `reason` names the rule that was broken. Falsy.

    `conflict` marks a rule about the object's state (pending, expired, already voted) rather
    than about who asks: services answer it with a Conflict (409), the rest with NotAllowed."""

    reason: str
    conflict: bool = False

    def __bool__(self) -> bool:
        return False


Decision = Allowed | Refused
ALLOWED = Allowed()


def ensure_allowed(decision: Decision) -> None:
    """Raise what a refusal means: Conflict (409) for a state rule, NotAllowed (403) else."""
    if not decision:
        raise (Conflict if decision.conflict else NotAllowed)(decision.reason)
