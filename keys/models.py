"""The HSM inventory mirror: what is in the Managed HSM, as of the last sync or execution."""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Lower

from accounts.models import DEFAULT_ROTATION_CLASS, Team

# Managed HSM key names: 1-127 letters, digits or dashes (request payloads, URLs, the mirror).
KEY_NAME_MAX_LENGTH = 127
KEY_NAME_PATTERN = rf"[0-9a-zA-Z-]{{1,{KEY_NAME_MAX_LENGTH}}}"
# What a KeyVersion row mirrors of the HSM's version besides its id (the sync and the API).
VERSION_FIELDS = ("enabled", "created_on", "updated_on", "not_before", "expires_on")
# The HSM tag naming a key's rotation class (set at create/import; the mirror reads it).
ROTATION_CLASS_TAG = "keywarden-class"
ROTATION_CLASS_MAX_LENGTH = 50
ISO_DURATION_MAX_LENGTH = 32
# A key-exchange key (BYOK): an RSA-HSM key whose only operation is import. The HSM knows it by
# its operations, so the mirror derives `is_kek` from them; a new one is 3072 or 4096 bits.
KEK_KTY, KEK_KEY_OPS, KEK_SIZES = "RSA-HSM", ["import"], (3072, 4096)
# Key types with a public key to download (oct keys have none).
ASYMMETRIC_KEY_TYPES = ("RSA-HSM", "EC-HSM", "RSA", "EC")
# The built-in classes (NIST SP 800-57 as ROTATION.md §0 quotes it): a migration seeds their
# rows, which admins edit; a seed stands in for its row when the row is missing.
SEEDED_STANDARDS = {DEFAULT_ROTATION_CLASS: ("P2Y", "P30D"), "active": ("P90D", "P30D")}


def is_key_exchange_key(kty: str, key_ops) -> bool:
    """Whether a key of `kty` with `key_ops` is a key-exchange key (BYOK imports wrap to it)."""
    return kty == KEK_KTY and list(key_ops or ()) == KEK_KEY_OPS


class KeyState(models.TextChoices):
    ACTIVE = "active", "Active"
    DELETED = "deleted", "Deleted (recoverable)"
    PURGED = "purged", "Purged"


class ComplianceState(models.TextChoices):
    """ROTATION.md §2, in the order they are decided."""

    NOT_APPLICABLE = "not_applicable", "Not applicable"
    EXPIRED = "expired", "Expired"
    OVERDUE = "overdue", "Overdue"
    EXPIRING_SOON = "expiring_soon", "Expiring soon"
    DUE_SOON = "due_soon", "Due soon"
    NO_ROTATION = "no_rotation", "No rotation mechanism"
    COMPLIANT = "compliant", "Compliant"


# Keys no rotation verdict applies to: deleted, purged or disabled on purpose, or never judged.
UNJUDGED_STATES = (ComplianceState.NOT_APPLICABLE, "")


class RotationMechanism(models.TextChoices):
    """What rotates a key next."""

    HSM_POLICY = "hsm_policy", "HSM rotation policy"
    SCHEDULE = "schedule", "Portal schedule"
    NONE = "none", "Nothing"


class RotationStandard(models.Model):
    """The longest a key's current version may live in a class (`max_age`, ISO-8601 as an
    admin wrote it) and how long ahead to warn; `team` set: that team's override."""

    key_class = models.SlugField(max_length=ROTATION_CLASS_MAX_LENGTH)
    team = models.ForeignKey(
        Team,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="rotation_standards",
    )
    max_age = models.CharField(max_length=ISO_DURATION_MAX_LENGTH)
    warn_before = models.CharField(max_length=ISO_DURATION_MAX_LENGTH)
    updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["key_class", "team__slug"]
        constraints = [
            models.UniqueConstraint(
                fields=["key_class"],
                condition=models.Q(team__isnull=True),
                name="rotationstandard_unique_class",
            ),
            models.UniqueConstraint(
                fields=["key_class", "team"],
                condition=models.Q(team__isnull=False),
                name="rotationstandard_unique_class_team",
            ),
        ]

    def __str__(self) -> str:
        owner = f" for team {self.team.slug}" if self.team_id else ""
        return f"{self.key_class}{owner}: {self.max_age}, warn {self.warn_before}"

    @classmethod
    def seeded(cls) -> list[RotationStandard]:
        """The built-in classes' standards as seeded (unsaved)."""
        return [
            cls(key_class=key_class, max_age=max_age, warn_before=warn_before)
            for key_class, (max_age, warn_before) in SEEDED_STANDARDS.items()
        ]


class ManagedKey(models.Model):
    """One key in the HSM. `last_applied` is what Keywarden last set (None: never managed);
    any difference the HSM shows from it is drift."""

    name = models.CharField(max_length=KEY_NAME_MAX_LENGTH, unique=True)
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.PROTECT, related_name="keys"
    )
    kty = models.CharField(max_length=16, blank=True)
    key_size = models.PositiveIntegerField(null=True, blank=True)
    curve = models.CharField(max_length=10, blank=True)
    key_ops = models.JSONField(default=list, blank=True)
    is_kek = models.BooleanField(default=False)  # is_key_exchange_key(kty, key_ops)
    enabled = models.BooleanField(default=True)
    exportable = models.BooleanField(default=False)
    tags = models.JSONField(default=dict, blank=True)
    current_version = models.CharField(max_length=64, blank=True)
    version_count = models.PositiveIntegerField(default=0)
    created_on = models.DateTimeField(null=True, blank=True)
    updated_on = models.DateTimeField(null=True, blank=True)
    not_before = models.DateTimeField(null=True, blank=True)
    expires_on = models.DateTimeField(null=True, blank=True)
    rotation_policy = models.JSONField(null=True, blank=True)
    last_rotated_on = models.DateTimeField(null=True, blank=True)
    # When the current version was made (what its age, hence compliance, counts from).
    current_version_created_on = models.DateTimeField(null=True, blank=True)
    # Judged by keys.services.compliance.refresh_compliance (keys.compliance.compliance_of).
    rotation_class = models.SlugField(
        max_length=ROTATION_CLASS_MAX_LENGTH, default=DEFAULT_ROTATION_CLASS
    )
    compliance_state = models.CharField(
        max_length=16, choices=ComplianceState.choices, blank=True, default=""
    )
    compliance_due_on = models.DateTimeField(null=True, blank=True)
    compliance_mechanism = models.CharField(
        max_length=12, choices=RotationMechanism.choices, blank=True, default=""
    )
    compliance_reason = models.CharField(max_length=255, blank=True, default="")
    state = models.CharField(max_length=10, choices=KeyState.choices, default=KeyState.ACTIVE)
    deleted_on = models.DateTimeField(null=True, blank=True)
    scheduled_purge_on = models.DateTimeField(null=True, blank=True)
    last_applied = models.JSONField(null=True, blank=True)
    has_drift = models.BooleanField(default=False)
    drift_reasons = models.JSONField(default=list, blank=True)
    drift_detected_at = models.DateTimeField(null=True, blank=True)
    # When the HSM state this row shows was read: a sync never overwrites a fresher reading
    # (e.g. an execution that finished while the sync was fetching).
    observed_at = models.DateTimeField(null=True, blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    sync_run = models.UUIDField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            # Managed HSM key names are case-insensitive: pay-ORDERS is pay-orders.
            models.UniqueConstraint(Lower("name"), name="key_name_unique_case_insensitive")
        ]
        indexes = [
            models.Index(fields=["team", "name"], name="key_team_name"),
            models.Index(fields=["state"], name="key_state"),
            models.Index(fields=["has_drift"], name="key_drift"),
            models.Index(fields=["compliance_state"], name="key_compliance"),
            models.Index(fields=["compliance_due_on"], name="key_compliance_due"),
            models.Index(fields=["rotation_class"], name="key_rotation_class"),
            models.Index(fields=["expires_on"], name="key_expires"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_managed(self) -> bool:
        return self.last_applied is not None

    @property
    def has_public_key(self) -> bool:
        return self.kty in ASYMMETRIC_KEY_TYPES

    @property
    def size_or_curve(self) -> str:
        return self.curve or (str(self.key_size) if self.key_size else "")


class KeyVersion(models.Model):
    """One version of a key (a rotation adds one)."""

    key = models.ForeignKey(ManagedKey, on_delete=models.CASCADE, related_name="versions")
    version = models.CharField(max_length=64)
    enabled = models.BooleanField(default=True)
    created_on = models.DateTimeField(null=True, blank=True)
    updated_on = models.DateTimeField(null=True, blank=True)
    not_before = models.DateTimeField(null=True, blank=True)
    expires_on = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_on", "version"]
        constraints = [models.UniqueConstraint(fields=["key", "version"], name="keyversion_unique")]

    def __str__(self) -> str:
        return f"{self.key.name}/{self.version}"


class ScheduleMode(models.TextChoices):
    """ROTATION.md §3: the schedule's approval stands for every run, or each run is approved."""

    STANDING = "standing", "Standing approval"
    EACH_TIME = "each_time", "Approved each time"


class RotationSchedule(models.Model):
    """A rotation Keywarden runs for one key (ROTATION.md §3), set by an approved
    `key.set_rotation_schedule` request (`approved_by`, its payload hash beside it).
    `next_run_on` is the next due moment, inside the window when there is one; the job that
    runs it moves it on in the same transaction that opens the run's request."""

    key = models.OneToOneField(
        ManagedKey, on_delete=models.CASCADE, related_name="rotation_schedule"
    )
    cadence = models.CharField(max_length=ISO_DURATION_MAX_LENGTH)
    # Weekdays (0 = Monday) on which the window opens at `window_start_hour` UTC for
    # `window_hours`; no weekdays: any time.
    window_weekdays = models.JSONField(default=list, blank=True)
    window_start_hour = models.PositiveSmallIntegerField(default=0)
    window_hours = models.PositiveSmallIntegerField(default=24)
    mode = models.CharField(max_length=10, choices=ScheduleMode.choices)
    retire_previous_after = models.CharField(
        max_length=ISO_DURATION_MAX_LENGTH, blank=True, default=""
    )
    approved_by = models.UUIDField()
    approved_payload_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    next_run_on = models.DateTimeField()
    last_run_on = models.DateTimeField(null=True, blank=True)
    # The request of the last run, and the run whose previous version has been retired.
    last_run_request = models.UUIDField(null=True, blank=True)
    retired_for_run = models.UUIDField(null=True, blank=True)

    class Meta:
        ordering = ["next_run_on"]
        indexes = [models.Index(fields=["next_run_on"], name="schedule_next_run")]

    def __str__(self) -> str:
        return (
            f"{self.key.name}: every {self.cadence} ({self.mode}), next {self.next_run_on:%Y-%m-%d}"
        )


class RoleAssignmentMirror(models.Model):
    """A role assignment in the HSM's local RBAC. `is_managed`: Keywarden made it."""

    name = models.CharField(max_length=64, unique=True)
    scope = models.CharField(max_length=255)
    key = models.ForeignKey(
        ManagedKey,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="role_assignments",
    )
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.PROTECT, related_name="role_assignments"
    )
    role_definition_id = models.CharField(max_length=255)
    role_name = models.CharField(max_length=128, blank=True)
    principal_id = models.CharField(max_length=64)
    principal_type = models.CharField(max_length=32, blank=True)
    is_managed = models.BooleanField(default=False)
    is_present = models.BooleanField(default=True)
    has_drift = models.BooleanField(default=False)
    drift_reasons = models.JSONField(default=list, blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    sync_run = models.UUIDField(null=True, blank=True)

    class Meta:
        ordering = ["scope", "role_name", "principal_id"]
        indexes = [
            models.Index(fields=["scope"], name="assignment_scope"),
            models.Index(fields=["principal_id"], name="assignment_principal"),
        ]

    def __str__(self) -> str:
        return f"{self.role_name or self.role_definition_id} → {self.principal_id} at {self.scope}"


class SyncStatus(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class InventorySyncRun(models.Model):
    """One reading of the whole HSM: progress while it runs, counts and errors after."""

    id = models.UUIDField(primary_key=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=SyncStatus.choices)
    trigger = models.CharField(max_length=32, default="schedule")
    keys_seen = models.PositiveIntegerField(default=0)
    keys_new = models.PositiveIntegerField(default=0)
    keys_deleted = models.PositiveIntegerField(default=0)
    keys_purged = models.PositiveIntegerField(default=0)
    assignments_seen = models.PositiveIntegerField(default=0)
    drift_found = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            # At most one sync at a time: a second start fails on insert, whatever the timing.
            models.UniqueConstraint(
                fields=["status"],
                condition=models.Q(status="running"),
                name="syncrun_one_running",
            )
        ]

    def __str__(self) -> str:
        return f"sync {self.started_at:%Y-%m-%d %H:%M} {self.status}"


class WarningKind(models.TextChoices):
    """What a warning to a key's owners is about (ROTATION.md §4)."""

    EXPIRY = "expiry", "Expiry"
    ROTATION_DUE = "rotation_due", "Rotation due"
    OVERDUE = "overdue", "Overdue"
    ROTATED_BY_HSM = "rotated_by_hsm", "Rotated by the HSM"
    SCHEDULE_FAILED = "schedule_failed", "Schedule run failed"


class KeyWarning(models.Model):
    """One warning about a key, sent once per key, version and threshold (the unique
    constraint is the proof). `sent_at` stays empty until the mail went out; a claim (token
    and time) marks a run that is sending it, so a concurrent run leaves it alone."""

    key = models.ForeignKey(ManagedKey, on_delete=models.CASCADE, related_name="warnings")
    kind = models.CharField(max_length=16, choices=WarningKind.choices)
    version = models.CharField(max_length=64)
    # "30d", "7d", "1d" before a date, "week-N" after it; "" for a warning about an event.
    threshold = models.CharField(max_length=16, blank=True, default="")
    due_on = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()
    claim = models.UUIDField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    recipients = models.JSONField(default=list, blank=True)
    detail = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        ordering = ["-created_at", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["key", "kind", "version", "threshold"], name="keywarning_once"
            )
        ]
        indexes = [
            models.Index(
                fields=["created_at"],
                condition=models.Q(sent_at__isnull=True),
                name="keywarning_unsent",
            )
        ]

    def __str__(self) -> str:
        threshold = f" {self.threshold}" if self.threshold else ""
        return f"{self.kind}{threshold} for {self.key.name}/{self.version}"


class ComplianceSnapshot(models.Model):
    """How many of a team's keys were in each compliance state on a day (the rotation
    dashboard's trend); `team` empty: keys no team owns. One row per day and team."""

    day = models.DateField()
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.CASCADE, related_name="compliance_snapshots"
    )
    # One column per ComplianceState value (SNAPSHOT_STATE_FIELDS), and keys not judged yet.
    not_applicable = models.PositiveIntegerField(default=0)
    expired = models.PositiveIntegerField(default=0)
    overdue = models.PositiveIntegerField(default=0)
    expiring_soon = models.PositiveIntegerField(default=0)
    due_soon = models.PositiveIntegerField(default=0)
    no_rotation = models.PositiveIntegerField(default=0)
    compliant = models.PositiveIntegerField(default=0)
    unjudged = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    taken_at = models.DateTimeField()

    class Meta:
        ordering = ["-day", "team__slug"]
        # Two constraints, not NULLS NOT DISTINCT: the SQLite demo has no such thing.
        constraints = [
            models.UniqueConstraint(fields=["day", "team"], name="compliancesnapshot_day_team"),
            models.UniqueConstraint(
                fields=["day"],
                condition=models.Q(team__isnull=True),
                name="compliancesnapshot_day_no_team",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.team.slug if self.team_id else '(no team)'}: {self.total} keys"


# The snapshot's count columns, one per compliance state (named by the state's value).
SNAPSHOT_STATE_FIELDS = tuple(ComplianceState.values)
