"""What was said to whom: one Notice per event (its text fixed as it was at the event), one
Delivery per (notice, recipient, channel), per-user preferences and per-team chat webhooks."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from accounts.models import Team


class Kind(models.TextChoices):
    """What a notice is about; preferences are chosen per kind."""

    AWAITING_APPROVAL = "awaiting_approval", "A request awaits my approval"
    DECIDED = "decided", "My request was approved or rejected"
    FINISHED = "finished", "My request succeeded or failed in the HSM"
    EXPIRED = "expired", "My request expired"
    KEY_WARNING = "key_warning", "A warning about my team's key"
    POSTURE_FINDING = "posture_finding", "A new high HSM posture finding"
    CUSTODY_WARNING = "custody_warning", "A new security-domain custody warning"


# The templates under templates/notifications/<dir>/ (subject.txt, mail.txt, mail.html,
# chat.txt) each kind is told with.
TEMPLATE_DIRS = {
    Kind.AWAITING_APPROVAL: "awaiting_approval",
    Kind.DECIDED: "outcome",
    Kind.FINISHED: "outcome",
    Kind.EXPIRED: "outcome",
    Kind.KEY_WARNING: "key_warning",
    Kind.POSTURE_FINDING: "posture_finding",
    Kind.CUSTODY_WARNING: "custody_warning",
}


class Channel(models.TextChoices):
    MAIL = "mail", "Email"
    INAPP = "inapp", "Inbox"
    TEAMS = "teams", "Microsoft Teams"
    SLACK = "slack", "Slack"


# Channels that reach one person (a preference each); chat channels reach a team's channel.
PERSONAL_CHANNELS = (Channel.MAIL, Channel.INAPP)
CHAT_CHANNELS = (Channel.TEAMS, Channel.SLACK)
# The personal channels each kind can use: key warnings are mailed by keys.services.warnings
# itself (ROTATION.md §4), so here they only reach the inbox.
KIND_CHANNELS = {
    kind: (Channel.INAPP,) if kind == Kind.KEY_WARNING else PERSONAL_CHANNELS for kind in Kind
}
# A request must never wait on a custodian who cannot see it: this one stays on.
ALWAYS_ON = frozenset({(Kind.AWAITING_APPROVAL, Channel.INAPP)})
ALWAYS_ON_REASON = (
    "Approvals waiting for you always appear in your inbox: a request waits on its custodians, "
    "so one of them must always be able to see it."
)
# Recipient labels of the chat channels (Delivery.recipient).
CUSTODIANS_RECIPIENT = "custodians"


class DeliveryState(models.TextChoices):
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class Notice(models.Model):
    """One event worth telling people about. `key` names the event (kind, subject, outcome
    and moment), so a repeated task finds the notice it already made."""

    key = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=32, choices=Kind.choices)
    outcome = models.CharField(max_length=32)
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL)
    subject = models.CharField(max_length=300)
    path = models.CharField(max_length=300)  # the portal page it is about (reverse())
    context = models.JSONField(default=dict)  # what the templates render, as at the event
    created_at = models.DateTimeField()

    class Meta:
        indexes = [
            # settle_awaiting finds a request's "approval needed" notices by their page, once
            # per later event of that request: without it, a scan of every unread delivery.
            models.Index(fields=["path", "kind"], name="notification_notice_path")
        ]

    def __str__(self) -> str:
        return self.subject


class Delivery(models.Model):
    """One notice to one recipient on one channel; the unique constraint makes every send
    happen once however often the task runs. In-app deliveries are the inbox."""

    notice = models.ForeignKey(Notice, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.CharField(max_length=16, choices=Channel.choices)
    recipient = models.CharField(max_length=100)  # "user:<pk>", "team:<pk>" or "custodians"
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE
    )
    state = models.CharField(
        max_length=16, choices=DeliveryState.choices, default=DeliveryState.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=500, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["notice", "recipient", "channel"], name="notification_delivery_once"
            )
        ]
        indexes = [
            models.Index(fields=["user", "channel", "read_at"], name="notification_inbox_unread")
        ]

    def __str__(self) -> str:
        return f"{self.notice_id} → {self.recipient} ({self.channel})"


class Preference(models.Model):
    """A user's choice for one kind on one personal channel; no row means on."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preferences"
    )
    kind = models.CharField(max_length=32, choices=Kind.choices)
    channel = models.CharField(max_length=16, choices=Channel.choices)
    is_enabled = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "kind", "channel"], name="notification_preference_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.kind} {self.channel}: {'on' if self.is_enabled else 'off'}"


class TeamChannels(models.Model):
    """A team's chat webhooks (Microsoft Teams Workflows / incoming webhook, Slack incoming
    webhook). The URLs are credentials: pages and the audit trail show them masked."""

    team = models.OneToOneField(Team, on_delete=models.CASCADE, related_name="chat_channels")
    teams_webhook_url = models.URLField(max_length=1000, blank=True)
    slack_webhook_url = models.URLField(max_length=1000, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"chat channels of {self.team.slug}"
