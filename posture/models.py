"""What the posture app stores: findings of the posture rules (one row per rule and subject,
updated by every evaluation), evaluation runs, and the full HSM backups Keywarden ran."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models

MAX_REASON_LENGTH = 2000


class Severity(models.TextChoices):
    HIGH = "high", "High"
    MEDIUM = "medium", "Medium"
    LOW = "low", "Low"


class FindingState(models.TextChoices):
    """Derived with `now` (an acceptance expires): never stored."""

    OPEN = "open", "Open"
    ACCEPTED = "accepted", "Accepted risk"
    RESOLVED = "resolved", "Resolved"


class SubjectKind(models.TextChoices):
    PRINCIPAL = "principal", "Principal"
    ASSIGNMENT = "assignment", "Role assignment"
    ROLE = "role", "Role definition"
    KEY = "key", "Key"
    HSM = "hsm", "HSM"


class Finding(models.Model):
    """One rule holding for one subject. `first_seen`/`last_seen`: the evaluations that saw it
    first and last; `resolved_at`: the one that saw it gone (cleared when it comes back)."""

    rule = models.CharField(max_length=64)
    subject = models.CharField(max_length=255)
    subject_kind = models.CharField(max_length=12, choices=SubjectKind.choices)
    severity = models.CharField(max_length=8, choices=Severity.choices)
    summary = models.CharField(max_length=500)
    evidence = models.JSONField(default=dict)
    key_name = models.CharField(max_length=127, blank=True, default="")
    principal_id = models.CharField(max_length=64, blank=True, default="")
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    times_reopened = models.PositiveIntegerField(default=0)
    accepted_until = models.DateTimeField(null=True, blank=True)
    accepted_reason = models.TextField(blank=True, default="")
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    accepted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["resolved_at", "severity", "rule", "subject"]
        constraints = [
            models.UniqueConstraint(fields=["rule", "subject"], name="finding_rule_subject")
        ]
        indexes = [models.Index(fields=["severity", "rule"], name="finding_severity_rule")]

    def __str__(self) -> str:
        return f"{self.rule} {self.subject}"

    def state_at(self, now: datetime) -> FindingState:
        if self.resolved_at is not None:
            return FindingState.RESOLVED
        if self.accepted_until is not None and self.accepted_until > now:
            return FindingState.ACCEPTED
        return FindingState.OPEN


class RunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class PostureRun(models.Model):
    """One evaluation: read the HSM, run every rule (`rules_done` of `rules_total` for the
    page's progress), store the findings. One at a time (core.runs)."""

    id = models.UUIDField(primary_key=True)
    started_at = models.DateTimeField()
    heartbeat_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=10, choices=RunStatus.choices)
    trigger = models.CharField(max_length=32, default="sync")
    rules_total = models.PositiveIntegerField(default=0)
    rules_done = models.PositiveIntegerField(default=0)
    findings_open = models.PositiveIntegerField(default=0)
    findings_new = models.PositiveIntegerField(default=0)
    findings_resolved = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["status"],
                condition=models.Q(status="running"),
                name="posturerun_one_running",
            )
        ]

    def __str__(self) -> str:
        return f"posture {self.started_at:%Y-%m-%d %H:%M} {self.status}"
