"""Who may do what with the audit trail (STYLE §2): the one definition of each rule, used by
the HTML pages and the API alike."""

from __future__ import annotations

from accounts.models import User
from accounts.roles import AUDIT_VERIFY_ROLES
from core.decisions import ALLOWED, Decision, Refused


def can_verify_audit(user: User) -> Decision:
    """Auditors and admins walk the whole chain (it reads every event)."""
    if not user.roles & AUDIT_VERIFY_ROLES:
        return Refused("Only auditors and admins may verify the audit trail.")
    return ALLOWED
