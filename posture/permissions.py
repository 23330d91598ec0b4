"""Who may see and act on the HSM posture (STYLE §2 predicates): the services call them, the
views and the API offer the same actions."""

from __future__ import annotations

from accounts.models import User
from accounts.roles import POSTURE_CHECK_ROLES, POSTURE_READ_ROLES, RISK_ACCEPT_ROLES
from core.decisions import ALLOWED, Decision, Refused


def can_view_posture(user: User) -> Decision:
    """Admins, custodians and auditors see the HSM's posture; requesters do not."""
    if not user.roles & POSTURE_READ_ROLES:
        return Refused("Only admins, custodians and auditors see the HSM posture.")
    return ALLOWED


def can_request_evaluation(user: User) -> Decision:
    """Admins and custodians start a posture check now."""
    if not user.roles & POSTURE_CHECK_ROLES:
        return Refused("Only admins and custodians start a posture check.")
    return ALLOWED


def can_accept_risk(user: User) -> Decision:
    """Admins and custodians accept a finding as a risk (with a reason and an expiry)."""
    if not user.roles & RISK_ACCEPT_ROLES:
        return Refused("Only admins and custodians accept a posture finding as a risk.")
    return ALLOWED
