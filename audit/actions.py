"""Every audit event name the product uses (PRODUCT.md §9).

The database column is a plain CharField without `choices`, so adding a name here needs no
migration; `audit.services.record_event` refuses names that are not listed.
"""

from __future__ import annotations

from django.db import models

from accounts import events as access


class Action(models.TextChoices):
    AUTH_LOGIN = "auth.login", "Signed in"
    AUTH_LOGOUT = "auth.logout", "Signed out"
    AUTH_LOGIN_FAILED = "auth.login_failed", "Sign-in failed"
    AUTH_TOKEN_ISSUED = "auth.token_issued", "API token issued"
    AUTH_TOKENS_REVOKED = "auth.tokens_revoked", "API tokens revoked"
    AUTH_LOCKED_OUT = "auth.locked_out", "Sign-in locked out"

    REQUEST_SUBMITTED = "request.submitted", "Request submitted"
    REQUEST_APPROVAL_ADDED = "request.approval_added", "Approval added"
    REQUEST_APPROVED = "request.approved", "Request approved"
    REQUEST_REJECTED = "request.rejected", "Request rejected"
    REQUEST_CANCELLED = "request.cancelled", "Request cancelled"
    REQUEST_EXPIRED = "request.expired", "Request expired"
    REQUEST_DISPATCHED = "request.dispatched", "Request dispatched to a worker"
    REQUEST_ATTEMPT_STARTED = "request.attempt_started", "Execution attempt started"
    REQUEST_ATTEMPT_FAILED = "request.attempt_failed", "Execution attempt failed"
    REQUEST_SUCCEEDED = "request.succeeded", "Request succeeded"
    REQUEST_FAILED = "request.failed", "Request failed"
    REQUEST_RETRIED = "request.retried", "Request retried"

    KEY_DRIFT_DETECTED = "key.drift_detected", "Key drift detected"
    KEY_INVENTORY_SYNCED = "key.inventory_synced", "Key inventory synced"
    KEY_BACKUP_DOWNLOADED = "key.backup_downloaded", "Key backup downloaded"
    KEY_ROTATED_BY_HSM = "key.rotated_by_hsm", "Key rotated by the HSM"
    POSTURE_EVALUATED = "posture.evaluated", "HSM posture evaluated"
    POSTURE_EVALUATION_REQUESTED = "posture.evaluation_requested", "HSM posture check requested"
    POSTURE_RISK_ACCEPTED = "posture.risk_accepted", "Posture finding accepted as a risk"
    ROTATION_SCHEDULE_WINDOW_MISSED = "schedule.window_missed", "Scheduled run's window missed"
    ROTATION_SCHEDULE_REFUSED = "schedule.refused", "Scheduled run refused"
    KEY_WARNING_SENT = "key.warning_sent", "Key warning sent"
    INVENTORY_SYNC_REQUESTED = "inventory.sync_requested", "Inventory sync requested"

    CUSTODY_FULL_BACKUP_RECORDED = "custody.full_backup_recorded", "Full HSM backup recorded"
    CUSTODY_HOLDER_ADDED = "custody.holder_added", "Security-domain holder added"
    CUSTODY_HOLDER_REMOVED = "custody.holder_removed", "Security-domain holder removed"
    CUSTODY_CERTIFICATE_REPLACED = "custody.certificate_replaced", "Holder certificate replaced"
    CUSTODY_QUORUM_SET = "custody.quorum_set", "Security-domain quorum set"
    CUSTODY_POSSESSION_CONFIRMED = "custody.possession_confirmed", "Holder confirmed possession"
    CUSTODY_WARNING_RAISED = "custody.warning_raised", "Custody warning raised"
    CUSTODY_ACTIVATED = "custody.activated", "HSM activated (security domain downloaded)"
    CUSTODY_REHEARSAL_STARTED = "custody.rehearsal_started", "Recovery rehearsal started"
    CUSTODY_REHEARSAL_RECORDED = "custody.rehearsal_recorded", "Recovery rehearsal recorded"

    AUDIT_VERIFIED = "audit.verified", "Audit chain verified"

    NOTIFICATION_PREFERENCES_UPDATED = (
        "notifications.preferences_updated",
        ("Notification preferences updated"),
    )
    NOTIFICATION_INBOX_READ = "notifications.inbox_read", "Inbox items marked read"
    TEAM_CHAT_CHANNELS_UPDATED = "team.chat_channels_updated", "Team chat webhooks updated"

    POLICY_UPDATED = "policy.updated", "Approval policy updated"
    ROTATION_STANDARD_UPDATED = "rotation_standard.updated", "Rotation standard updated"
    TEAM_CREATED = access.TEAM_CREATED, "Team created"
    TEAM_UPDATED = access.TEAM_UPDATED, "Team updated"
    TEAM_MEMBER_ADDED = access.MEMBERSHIP_ADDED, "Team member added"
    TEAM_MEMBER_REMOVED = access.MEMBERSHIP_REMOVED, "Team member removed"
    ROLE_GRANTED = access.ROLE_GRANTED, "Portal role granted"
    ROLE_REVOKED = access.ROLE_REVOKED, "Portal role revoked"
    SERVICE_ACCOUNT_CREATED = access.SERVICE_ACCOUNT_CREATED, "Service account created"
    SERVICE_ACCOUNT_UPDATED = access.SERVICE_ACCOUNT_UPDATED, "Service account updated"
    PRINCIPAL_REGISTERED = access.PRINCIPAL_REGISTERED, "Principal registered"
    PRINCIPAL_UPDATED = access.PRINCIPAL_UPDATED, "Principal updated"
    PRINCIPAL_REMOVED = access.PRINCIPAL_REMOVED, "Principal removed"

    @classmethod
    def for_state(cls, state: str) -> Action:
        """The event recorded when a change request enters `state` (STYLE §2 `move`).

        Raises ValueError for a state without an event."""
        try:
            return _ACTION_FOR_STATE[str(state)]
        except KeyError:
            raise ValueError(f"no audit action for request state {state!r}") from None


# Keyed by the request state's value, so approvals' State (a str TextChoices) looks up directly.
_ACTION_FOR_STATE: dict[str, Action] = {
    "pending": Action.REQUEST_SUBMITTED,
    "approved": Action.REQUEST_APPROVED,
    "running": Action.REQUEST_ATTEMPT_STARTED,
    "succeeded": Action.REQUEST_SUCCEEDED,
    "failed": Action.REQUEST_FAILED,
    "rejected": Action.REQUEST_REJECTED,
    "cancelled": Action.REQUEST_CANCELLED,
    "expired": Action.REQUEST_EXPIRED,
}
