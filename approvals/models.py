"""Change requests, their approvals, the approval policy per operation, and execution attempts."""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Lower

from accounts.models import Team
from accounts.roles import Role
from keys.models import KEY_NAME_MAX_LENGTH


class Operation(models.TextChoices):
    KEY_CREATE = "key.create", "Create key"
    KEY_IMPORT = "key.import", "Import key (BYOK)"
    KEY_ROTATE = "key.rotate", "Rotate key"
    KEY_SET_ROTATION_POLICY = "key.set_rotation_policy", "Set rotation policy"
    KEY_SET_ROTATION_SCHEDULE = "key.set_rotation_schedule", "Set rotation schedule"
    KEY_REMOVE_ROTATION_SCHEDULE = "key.remove_rotation_schedule", "Remove rotation schedule"
    KEY_DISABLE_VERSION = "key.disable_version", "Disable an old key version"
    KEY_UPDATE = "key.update", "Update key properties"
    KEY_DELETE = "key.delete", "Delete key"
    KEY_RECOVER = "key.recover", "Recover deleted key"
    KEY_PURGE = "key.purge", "Purge deleted key"
    KEY_BACKUP = "key.backup", "Back up key"
    KEY_ADOPT = "key.adopt", "Adopt unmanaged key"
    ROLE_ASSIGN = "role.assign", "Assign role on key"
    ROLE_REVOKE = "role.revoke", "Revoke role assignment"
    CUSTODY_ADD_HOLDER = "custody.add_holder", "Add security-domain holder"
    CUSTODY_REMOVE_HOLDER = "custody.remove_holder", "Remove security-domain holder"
    CUSTODY_REPLACE_CERTIFICATE = "custody.replace_certificate", "Replace holder certificate"
    CUSTODY_SET_QUORUM = "custody.set_quorum", "Set security-domain quorum"
    HSM_SECURITY_DOMAIN_DOWNLOAD = "hsm.security_domain.download", "Activate HSM (security domain)"
    HSM_FULL_BACKUP = "hsm.full_backup", "Full HSM backup"


class State(models.TextChoices):
    PENDING = "pending", "Pending approval"
    APPROVED = "approved", "Approved"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    REJECTED = "rejected", "Rejected"
    CANCELLED = "cancelled", "Cancelled"
    EXPIRED = "expired", "Expired"


# The state sets every module uses (approvals.states builds its transition table from them).
OPEN_STATES = (State.PENDING, State.APPROVED, State.RUNNING)  # one per key; the page polls
TERMINAL_STATES = (State.SUCCEEDED, State.REJECTED, State.CANCELLED, State.EXPIRED)
DECIDED_STATES = (State.APPROVED, State.REJECTED, State.CANCELLED, State.EXPIRED)  # from PENDING
FINISHED_STATES = (State.SUCCEEDED, State.FAILED)  # from RUNNING: an attempt's outcome
EXECUTABLE_STATES = (State.APPROVED, State.RUNNING)  # a worker may claim: start or resume

# Limits the model, services, serializers and forms share.
MAX_TEXT_LENGTH = 2000  # a justification or a decision's comment
# Dual approval is the product's promise: a policy may ask for more, never fewer than two.
MIN_APPROVALS, MAX_APPROVALS = 2, 5
DEFAULT_MAX_WAIT = timedelta(days=7)
MIN_MAX_WAIT, MAX_MAX_WAIT = timedelta(hours=1), timedelta(days=90)


class ApprovalPolicy(models.Model):
    """How many custodians must approve an operation, who may, and how long a request waits."""

    operation = models.CharField(max_length=32, choices=Operation.choices, unique=True)
    approvals_required = models.PositiveSmallIntegerField(
        default=MIN_APPROVALS,
        validators=[MinValueValidator(MIN_APPROVALS), MaxValueValidator(MAX_APPROVALS)],
    )
    approver_role = models.CharField(max_length=20, default=Role.CUSTODIAN)
    # Approvers must be independent of the requesting team (approvals.permissions.can_decide).
    require_independent_approvers = models.BooleanField(default=False)
    max_wait = models.DurationField(
        default=DEFAULT_MAX_WAIT,
        validators=[MinValueValidator(MIN_MAX_WAIT), MaxValueValidator(MAX_MAX_WAIT)],
    )
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["operation"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(
                    approvals_required__gte=MIN_APPROVALS, approvals_required__lte=MAX_APPROVALS
                ),
                name="policy_approvals_in_range",
            )
        ]

    def __str__(self) -> str:
        return f"{self.operation}: {self.approvals_required} approvals"


class ChangeRequest(models.Model):
    """An app team's request for one HSM operation. Immutable once submitted: the canonical
    payload is hashed, and every approval and execution checks that hash."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    operation = models.CharField(max_length=32, choices=Operation.choices)
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="change_requests")
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="change_requests"
    )
    justification = models.TextField(max_length=MAX_TEXT_LENGTH)
    params = models.JSONField()
    key_name = models.CharField(max_length=KEY_NAME_MAX_LENGTH, db_index=True)
    payload_hash = models.CharField(max_length=64)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    approvals_required = models.PositiveSmallIntegerField()
    # The policy's require_independent_approvers when submitted (policy changes apply later).
    require_independent_approvers = models.BooleanField(default=False)
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    dispatched_at = models.DateTimeField(null=True, blank=True)
    dispatch_count = models.PositiveIntegerField(default=0)
    # The Celery task id of the last dispatch: the sweeper leaves a message that is still
    # queued or held by a live worker alone.
    dispatch_task_id = models.CharField(max_length=64, blank=True, default="")
    result = models.JSONField(null=True, blank=True)
    error = models.JSONField(null=True, blank=True)
    # The key's values the request changes, as the inventory had them at submission
    # (`OperationSpec.current`): approvers see what the requester saw. None: nothing to compare.
    current_values = models.JSONField(null=True, blank=True)
    # A run of a rotation schedule (ROTATION.md §3): the approved key.set_rotation_schedule
    # request it runs under. A standing run is approved at birth by that approval.
    schedule_request = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="schedule_runs"
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # One open request per key (names compared as the HSM does, in any case): no racing
            # create/rotate/delete on the same key.
            models.UniqueConstraint(
                Lower("key_name"),
                condition=models.Q(state__in=list(OPEN_STATES)),
                name="request_one_open_per_key",
            )
        ]
        # The lists' orders and filters; those that page by key first (core.paging) carry the
        # id, so the OFFSET over 100,000 rows reads the index alone. The dashboard's service
        # levels read a 30-day window of `request_created`.
        indexes = [
            models.Index(fields=["state", "created_at"], include=["id"], name="request_state_age"),
            models.Index(fields=["team", "-created_at"], include=["id"], name="request_team"),
            models.Index(fields=["requester", "-created_at"], name="request_requester"),
            models.Index(fields=["created_at"], include=["id"], name="request_created"),
        ]

    def __str__(self) -> str:
        return f"{self.operation} {self.key_name} ({self.state})"

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES


class Decision(models.TextChoices):
    APPROVE = "approve", "Approve"
    REJECT = "reject", "Reject"


class Approval(models.Model):
    """One custodian's decision on a request, bound to the payload hash they saw."""

    request = models.ForeignKey(ChangeRequest, on_delete=models.PROTECT, related_name="approvals")
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="approvals"
    )
    decision = models.CharField(max_length=8, choices=Decision.choices)
    comment = models.TextField(blank=True, max_length=MAX_TEXT_LENGTH)
    payload_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            # One custodian counts once, whatever the timing.
            models.UniqueConstraint(fields=["request", "approver"], name="approval_once")
        ]
        # The dashboard's service levels: the first decision per request in a window.
        indexes = [models.Index(fields=["created_at", "request"], name="approval_created")]

    def __str__(self) -> str:
        return f"{self.approver} {self.decision}d {self.request_id}"


class AttemptOutcome(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    TRANSIENT = "transient", "Will retry"
    ABANDONED = "abandoned", "Abandoned (worker lost)"


class Execution(models.Model):
    """One attempt by a worker to carry out an approved request."""

    request = models.ForeignKey(ChangeRequest, on_delete=models.PROTECT, related_name="executions")
    attempt = models.PositiveIntegerField()
    task_id = models.CharField(max_length=128, blank=True)
    started_at = models.DateTimeField()
    heartbeat_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(
        max_length=10, choices=AttemptOutcome.choices, default=AttemptOutcome.RUNNING
    )
    # What the attempt learnt before its HSM call (e.g. the version before a rotation), so a
    # repeated attempt can tell whether the call already happened.
    checkpoint = models.JSONField(default=dict, blank=True)
    hsm_request_ids = models.JSONField(default=list, blank=True)
    result = models.JSONField(null=True, blank=True)
    error = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["attempt"]
        constraints = [
            models.UniqueConstraint(fields=["request", "attempt"], name="execution_attempt_once")
        ]

    def __str__(self) -> str:
        return f"{self.request_id} attempt {self.attempt}: {self.outcome}"


class KeyBackup(models.Model):
    """The HSM's protected backup blob made by a `key.backup` request, kept for custodians."""

    request = models.OneToOneField(ChangeRequest, on_delete=models.PROTECT, related_name="backup")
    key_name = models.CharField(max_length=KEY_NAME_MAX_LENGTH)
    blob = models.BinaryField()
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"backup of {self.key_name} ({self.created_at:%Y-%m-%d})"
