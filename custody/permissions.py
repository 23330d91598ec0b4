"""Who may read the custody register and who confirms possession (pure predicates)."""

from __future__ import annotations

from accounts.models import User
from accounts.roles import CUSTODY_READ_ROLES, REHEARSAL_ROLES
from core.decisions import ALLOWED, Decision, Refused
from custody.models import Holder


def is_active_holder(user: User) -> bool:
    """Whether `user` holds a share of a security domain right now (one query)."""
    return Holder.objects.filter(user=user, removed_at__isnull=True).exists()


def can_read_register(user: User) -> Decision:
    """Admins, custodians and auditors read the register; holders read it to confirm."""
    if user.roles & CUSTODY_READ_ROLES or is_active_holder(user):
        return ALLOWED
    return Refused("Only admins, custodians, auditors and key holders see the custody register.")


def can_read_backups(user: User) -> Decision:
    """Admins, custodians and auditors see the full HSM backups Keywarden ran."""
    if user.roles & CUSTODY_READ_ROLES:
        return ALLOWED
    return Refused("Only admins, custodians and auditors see the full HSM backups.")


def can_confirm_possession(user: User, holder: Holder) -> Decision:
    """Only the holder themself confirms that they still hold their token."""
    if holder.removed_at is not None:
        return Refused("This holder was removed from the register.", conflict=True)
    if holder.user_id is None or holder.user_id != user.pk:
        return Refused("Only the holder themself confirms possession of their token.")
    return ALLOWED


def can_approve_ceremony(user: User) -> Decision:
    """A ceremony is approved by custodians who hold no share: a holder approving the
    download of the file their own key opens would be one person on both sides."""
    if is_active_holder(user):
        return Refused(
            "Key holders may not approve a security-domain ceremony: approvals must come from "
            "custodians who hold no share (separation of duties)."
        )
    return ALLOWED


def can_rehearse_recovery(user: User) -> Decision:
    """Admins and custodians run (and record) a recovery rehearsal."""
    if user.is_active and user.roles & REHEARSAL_ROLES:
        return ALLOWED
    return Refused("Only admins and custodians rehearse the recovery of the security domain.")
