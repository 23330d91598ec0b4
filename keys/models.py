"""The HSM inventory mirror: what is in the Managed HSM, as of the last sync or execution."""

from __future__ import annotations

from django.db import models

from accounts.models import Team

# Managed HSM key names: 1-127 letters, digits or dashes (request payloads, URLs, the mirror).
KEY_NAME_MAX_LENGTH = 127
KEY_NAME_PATTERN = rf"[0-9a-zA-Z-]{{1,{KEY_NAME_MAX_LENGTH}}}"
# What a KeyVersion row mirrors of the HSM's version besides its id (the sync and the API).
VERSION_FIELDS = ("enabled", "created_on", "updated_on", "not_before", "expires_on")


class KeyState(models.TextChoices):
    ACTIVE = "active", "Active"
    DELETED = "deleted", "Deleted (recoverable)"
    PURGED = "purged", "Purged"


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
    rotation_due_on = models.DateTimeField(null=True, blank=True)
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
        indexes = [
            models.Index(fields=["team", "name"], name="key_team_name"),
            models.Index(fields=["state"], name="key_state"),
            models.Index(fields=["has_drift"], name="key_drift"),
            models.Index(fields=["rotation_due_on"], name="key_rotation_due"),
            models.Index(fields=["expires_on"], name="key_expires"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_managed(self) -> bool:
        return self.last_applied is not None

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
