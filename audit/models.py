"""The audit trail's one table: append-only, hash-chained events (PRODUCT.md §9)."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from audit.context import USER_AGENT_MAX_LENGTH
from audit.targets import TARGET_NAME_MAX_LENGTH


class ActorType(models.TextChoices):
    USER = "user", "User"
    SYSTEM = "system", "System component"
    ANONYMOUS = "anonymous", "Anonymous"


class AuditEvent(models.Model):
    """One event of the audit trail; written only by `audit.services` (`record_event` inserts
    it, `seal_events` seals it).

    A writer inserts its events unsealed (`sequence`, `prev_hash`, `hash` NULL), in its own
    transaction, without any lock; the sealer gives committed events, in one order under the
    chain lock, a gapless `sequence` and the `hash` that chains each to the previous one
    (`audit.chain`). `id` is insertion order, `sequence` chain order. On PostgreSQL triggers
    (migrations 0002, 0003, 0007) refuse every UPDATE, DELETE and TRUNCATE, whatever the session
    sets, except the one sealing update (NULL to values, nothing else changing); the test suite
    drops the TRUNCATE trigger in its own test database so Django's flush can empty it between
    transactional tests. SQLite (demo) seals inline and refuses every UPDATE.
    Foreign keys PROTECT: a user or team with events cannot be deleted (deactivate instead).
    """

    id = models.BigAutoField(primary_key=True)
    sequence = models.PositiveBigIntegerField(null=True, blank=True, unique=True)
    occurred_at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="audit_events",
    )
    actor_label = models.CharField(max_length=150)
    actor_type = models.CharField(max_length=16, choices=ActorType.choices)
    # No `choices`: new names in audit.actions.Action need no migration.
    action = models.CharField(max_length=64, db_index=True)
    target_type = models.CharField(max_length=100)
    target_id = models.CharField(max_length=64, blank=True)
    target_name = models.CharField(max_length=TARGET_NAME_MAX_LENGTH, blank=True)
    team = models.ForeignKey(
        "accounts.Team",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="audit_events",
    )
    team_slug = models.CharField(max_length=50, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    task_id = models.CharField(max_length=128, blank=True)
    hsm_request_id = models.CharField(max_length=128, blank=True)
    client_ip = models.CharField(max_length=45, blank=True)
    user_agent = models.CharField(max_length=USER_AGENT_MAX_LENGTH, blank=True)
    # NULL (not '') until sealed: a sealed event's hash is never empty.
    prev_hash = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001
    hash = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["occurred_at"], name="audit_event_occurred_at"),
            models.Index(fields=["actor_label"], name="audit_event_actor_label"),
            models.Index(fields=["team_slug"], name="audit_event_team_slug"),
            models.Index(fields=["target_type", "target_id"], name="audit_event_target"),
            models.Index(fields=["target_name"], name="audit_event_target_name"),
            # The sealer's backlog: unsealed events by insertion order.
            models.Index(
                fields=["id"],
                condition=models.Q(sequence__isnull=True),
                name="audit_event_unsealed",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(sequence__gte=1), name="audit_event_sequence_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(actor_type__in=ActorType.values),
                name="audit_event_actor_type_known",
            ),
            # Sealed means all three set; unsealed, none.
            models.CheckConstraint(
                condition=models.Q(sequence__isnull=True, prev_hash__isnull=True, hash__isnull=True)
                | models.Q(sequence__isnull=False, prev_hash__isnull=False, hash__isnull=False),
                name="audit_event_sealed_whole",
            ),
        ]

    def __str__(self) -> str:
        where = f"#{self.sequence}" if self.sequence is not None else f"unsealed {self.pk}"
        return f"{where} {self.action} by {self.actor_label}"

    @property
    def is_sealed(self) -> bool:
        return self.sequence is not None


class AuditCheckpoint(models.Model):
    """A signed statement "the chain's head was event #head_sequence with hash head_hash at
    signed_at"; written only by `audit.services.record_checkpoint`, append-only like the events.

    `number` is gapless and signed, so a removed row shows as a gap; the signature is made in
    the HSM by a key only the audit signer identity may use (`audit.checkpoints`, README)."""

    number = models.PositiveBigIntegerField(primary_key=True)
    head_sequence = models.PositiveBigIntegerField(unique=True)
    head_hash = models.CharField(max_length=64)
    signed_at = models.DateTimeField()
    key_id = models.CharField(max_length=255)
    algorithm = models.CharField(max_length=16)
    signature = models.CharField(max_length=1024)  # base64url, no padding

    class Meta:
        ordering = ["number"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(number__gte=1), name="audit_checkpoint_number_positive"
            ),
            models.CheckConstraint(
                condition=models.Q(head_sequence__gte=1), name="audit_checkpoint_head_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"checkpoint {self.number} at #{self.head_sequence}"


class VerificationStatus(models.TextChoices):
    RUNNING = "running", "Running"
    OK = "ok", "Intact"
    BROKEN = "broken", "Broken"
    FAILED = "failed", "Failed"


class VerificationRun(models.Model):
    """One verification of the chain, events `from_sequence` + 1 .. `to_sequence` linked to
    `from_hash` (the hash an earlier OK run or a signed checkpoint vouched for, genesis when 0);
    progress while it runs, the first break after. Written only by `audit.verification`."""

    id = models.UUIDField(primary_key=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=VerificationStatus.choices)
    trigger = models.CharField(max_length=32, default="schedule")
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    is_full = models.BooleanField(default=False)
    # Where the run starts: "genesis", "run" (the last OK run's end) or "checkpoint".
    anchor = models.CharField(max_length=16, default="genesis")
    from_sequence = models.PositiveBigIntegerField(default=0)
    from_hash = models.CharField(max_length=64)
    to_sequence = models.PositiveBigIntegerField(default=0)
    events_checked = models.PositiveBigIntegerField(default=0)
    head_hash = models.CharField(max_length=64, blank=True)
    broken_sequence = models.PositiveBigIntegerField(null=True, blank=True)
    broken_reason = models.CharField(max_length=32, blank=True)
    broken_detail = models.TextField(blank=True)
    error = models.TextField(blank=True)
    # The sealer's backlog when the run started: committed events not in the chain yet, which
    # the run does not cover (`audit.selectors.unsealed_backlog`).
    unsealed_count = models.PositiveBigIntegerField(default=0)
    oldest_unsealed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            # At most one verification at a time: a second start fails on insert.
            models.UniqueConstraint(
                fields=["status"],
                condition=models.Q(status="running"),
                name="verificationrun_one_running",
            )
        ]

    def __str__(self) -> str:
        return f"verification {self.started_at:%Y-%m-%d %H:%M} {self.status}"

    @property
    def is_running(self) -> bool:
        return self.status == VerificationStatus.RUNNING

    @property
    def unsealed_age_seconds(self) -> float | None:
        """How long the oldest unsealed event had waited when the run started (None: none)."""
        if self.oldest_unsealed_at is None:
            return None
        return max((self.started_at - self.oldest_unsealed_at).total_seconds(), 0.0)

    @property
    def events_to_check(self) -> int:
        """How many events the run's range holds (its progress is `events_checked` of these)."""
        return self.to_sequence - self.from_sequence
