"""The security-domain custody register: the HSM's activation record, its key holders and
their possession confirmations, recovery rehearsals, and the full HSM backups Keywarden ran.
Written only by custody.services."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

# The HSM's own bounds on a security domain (Azure and the emulator alike): 3 to 10
# certificates, a quorum of at least 2 and at most the number of certificates.
MIN_HOLDERS_FOR_ACTIVATION, MAX_HOLDERS = 3, 10
MIN_QUORUM = 2
PERSON_MAX_LENGTH, SITE_MAX_LENGTH = 150, 100
THUMBPRINT_MAX_LENGTH = 43  # base64url SHA-256, unpadded (the HSM's x5t#S256)


class TokenType(models.TextChoices):
    FIPS_TOKEN = "fips_token", "FIPS 140 token"
    SMART_CARD = "smart_card", "Smart card"
    FILE = "file", "Key file"


class SecurityDomain(models.Model):
    """One HSM's custody record: the quorum its security domain needs (M of the holders) and
    its activation (when, who witnessed, the SHA-256 of the file; never the file itself)."""

    hsm_url = models.URLField(unique=True)
    quorum = models.PositiveSmallIntegerField(null=True, blank=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    witnesses = models.JSONField(default=list, blank=True)
    file_sha256 = models.CharField(max_length=64, blank=True)
    file_name = models.CharField(max_length=255, blank=True)
    activation_request_id = models.UUIDField(null=True, blank=True)
    # The warning codes the last evaluation raised: a new one is audited (and notified) once.
    warning_codes = models.JSONField(default=list, blank=True)
    warnings_evaluated_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"security domain of {self.hsm_url}"

    @property
    def is_activated(self) -> bool:
        return self.activated_at is not None


class Holder(models.Model):
    """A key holder: a person (a portal user or a named person), their token and site, and
    the certificate their share is wrapped to (thumbprint and expiry read from it)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    security_domain = models.ForeignKey(
        SecurityDomain, on_delete=models.PROTECT, related_name="holders"
    )
    person = models.CharField(max_length=PERSON_MAX_LENGTH)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="custody_holdings",
    )
    token_type = models.CharField(max_length=16, choices=TokenType.choices)
    site = models.CharField(max_length=SITE_MAX_LENGTH)
    certificate_pem = models.TextField()
    thumbprint = models.CharField(max_length=THUMBPRINT_MAX_LENGTH)
    certificate_expires_at = models.DateTimeField()
    added_at = models.DateTimeField()
    removed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["added_at", "person"]
        constraints = [
            models.UniqueConstraint(
                fields=["security_domain", "thumbprint"],
                condition=models.Q(removed_at__isnull=True),
                name="custody_holder_certificate_once",
            )
        ]

    def __str__(self) -> str:
        return f"{self.person} ({self.site})"


class PossessionConfirmation(models.Model):
    """A holder's "I still hold my token", made in the portal by the holder themself."""

    holder = models.ForeignKey(Holder, on_delete=models.PROTECT, related_name="confirmations")
    confirmed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    confirmed_at = models.DateTimeField()
    # Signed with the token's key: a server nonce verified against the holder's certificate.
    is_signed = models.BooleanField(default=False)

    class Meta:
        ordering = ["-confirmed_at"]
        indexes = [models.Index(fields=["holder", "-confirmed_at"], name="custody_confirm_recent")]

    def __str__(self) -> str:
        return f"{self.holder} confirmed at {self.confirmed_at:%Y-%m-%d %H:%M}"


class RehearsalOutcome(models.TextChoices):
    SUCCEEDED = "succeeded", "Recovered"
    FAILED = "failed", "Failed"


class Rehearsal(models.Model):
    """A recovery drill into a scratch HSM: outcome, time taken, what proved the keys back."""

    security_domain = models.ForeignKey(
        SecurityDomain, on_delete=models.PROTECT, related_name="rehearsals"
    )
    scratch_hsm_url = models.URLField()
    file_sha256 = models.CharField(max_length=64)
    shares_used = models.PositiveSmallIntegerField()
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    outcome = models.CharField(max_length=10, choices=RehearsalOutcome.choices)
    detail = models.TextField()
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"rehearsal {self.started_at:%Y-%m-%d} ({self.outcome})"

    @property
    def seconds_taken(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()


class FullBackup(models.Model):
    """A full HSM backup Keywarden ran (the `hsm.full_backup` request; rows from before the
    request existed have none). The posture rule `hsm.no_recent_full_backup` reads the latest."""

    folder_url = models.CharField(max_length=500)
    finished_at = models.DateTimeField()
    container_url = models.CharField(max_length=500, blank=True)
    request_id = models.UUIDField(null=True, blank=True, unique=True)

    class Meta:
        ordering = ["-finished_at"]

    def __str__(self) -> str:
        return f"full backup {self.finished_at:%Y-%m-%d %H:%M}"


class RehearsalRunStatus(models.TextChoices):
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Could not run"


class RehearsalRun(models.Model):
    """A recovery rehearsal asked for in the portal or by `manage.py rehearse_recovery`, run by
    a worker (`custody.drills`). The holders' restore blob and the security domain file are
    kept only until the drill has run (then emptied); their SHA-256 stays. One runs at a time
    (`core.runs`)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    scratch_hsm_url = models.URLField()
    shares_used = models.PositiveSmallIntegerField()
    restore_blob = models.TextField(blank=True)
    restore_blob_sha256 = models.CharField(max_length=64)
    file_value = models.TextField(blank=True)
    # The signature made before the drill: name, version, algorithm, digest (hex), signature
    # (base64).
    proof = models.JSONField()
    status = models.CharField(max_length=10, choices=RehearsalRunStatus.choices)
    started_at = models.DateTimeField()
    heartbeat_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    rehearsal = models.OneToOneField(
        Rehearsal, null=True, blank=True, on_delete=models.PROTECT, related_name="run"
    )

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["status"],
                condition=models.Q(status="running"),
                name="custody_one_rehearsal_running",
            )
        ]

    def __str__(self) -> str:
        return f"rehearsal run {self.started_at:%Y-%m-%d %H:%M} ({self.status})"

    @property
    def is_running(self) -> bool:
        return self.status == RehearsalRunStatus.RUNNING
