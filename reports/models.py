"""What the reports app stores: which weekly report mail went to whom."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class WeeklyReportMail(models.Model):
    """The weekly rotation report to one admin for one week (its Monday, UTC). The unique
    (admin, week) row is the proof it goes out once however often beat runs the job; a claim
    (token and time) marks a run that is sending it, and `sent_at` stays empty until it went."""

    admin = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    week = models.DateField()
    created_at = models.DateTimeField()
    claim = models.UUIDField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    recipient = models.EmailField(blank=True, default="")

    class Meta:
        ordering = ["-week", "admin_id"]
        constraints = [
            models.UniqueConstraint(fields=["admin", "week"], name="weeklyreportmail_once")
        ]

    def __str__(self) -> str:
        return f"weekly report {self.week} to {self.admin_id}"
