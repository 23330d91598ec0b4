"""The portal's own rows: process heartbeats (portal.heartbeats)."""

from django.db import models


class ProcessKind(models.TextChoices):
    WORKER = "worker", "Celery worker"
    BEAT = "beat", "Celery beat"


class Heartbeat(models.Model):
    """The last sign of life of one worker (by Celery hostname) or beat: which queues it
    consumes and when it last beat. Written by the process itself, never by a person."""

    kind = models.CharField(max_length=8, choices=ProcessKind.choices)
    name = models.CharField(max_length=255)
    queues = models.JSONField(default=list)
    pid = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField()
    beat_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "name"], name="heartbeat_one_per_process")
        ]
        indexes = [models.Index(fields=["kind", "beat_at"], name="heartbeat_kind_beat_at")]

    def __str__(self) -> str:
        return f"{self.kind} {self.name}"
