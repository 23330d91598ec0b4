"""Warnings to a key's owners (ROTATION.md §4): decided from the key rows' persisted compliance
fields, recorded once per key, version and threshold (KeyWarning's unique constraint), then
mailed and audited. Recording and sending are apart: a row whose mail failed stays unsent and
the next run retries it, so each warning goes out once, however often, late or concurrently
the job runs. The number of SQL statements per run is constant, not per key."""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from smtplib import SMTPException

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from kombu.exceptions import OperationalError

from accounts.models import Membership
from accounts.roles import Role
from accounts.selectors import users_with_role
from audit.actions import Action
from audit.context import AuditContext
from audit.services import EventSpec, record_events
from keys.models import ComplianceState, KeyState, KeyWarning, ManagedKey, WarningKind
from notifications import services as notices
from notifications.models import TEMPLATE_DIRS, Kind

logger = logging.getLogger(__name__)

# Days before the date a warning is about; the tightest one reached is the one recorded.
EXPIRY_THRESHOLDS = (30, 7, 1)
ROTATION_DUE_THRESHOLDS = (30, 7)
LOOKAHEAD = timedelta(days=max(*EXPIRY_THRESHOLDS, *ROTATION_DUE_THRESHOLDS))
OVERDUE_EVERY = timedelta(days=7)
# A run that claimed warnings and died: after this long another run sends them.
CLAIM_LEASE = timedelta(minutes=15)
# The custodians' digest of a run's expiry warnings (subject.txt, mail.txt, mail.html).
DIGEST_TEMPLATES = "keys/mail/expiring_digest"
# Who hears of each kind besides the owning team's members.
ALSO_TO_ROLES = {
    WarningKind.OVERDUE: (Role.CUSTODIAN, Role.ADMIN),
    WarningKind.SCHEDULE_FAILED: (Role.CUSTODIAN,),
}
SUBJECTS = {
    WarningKind.EXPIRY: "expires on {day}",
    WarningKind.ROTATION_DUE: "rotation due on {day}",
    WarningKind.OVERDUE: "rotation overdue since {day}",
    WarningKind.ROTATED_BY_HSM: "rotated by the HSM's policy",
    WarningKind.SCHEDULE_FAILED: "scheduled rotation failed",
}
KEY_FIELDS = ("pk", "name", "team_id", "current_version", "expires_on", "compliance_due_on")


@dataclass(frozen=True)
class WarningSummary:
    """What one run did: warnings the keys call for, mails sent and failed, digest mails."""

    due: int
    sent: int
    failed: int
    digests: int


def _day(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d}" if moment else "—"


def _tightest(left: timedelta, thresholds: tuple[int, ...]) -> str | None:
    reached = [days for days in thresholds if left <= timedelta(days=days)]
    return f"{min(reached)}d" if reached else None


def due_warnings(key: ManagedKey, *, now: datetime) -> list[KeyWarning]:
    """The warnings the key's stored dates call for at `now` (unsaved rows, no I/O): expiry at
    the tightest of 30/7/1 days reached, rotation due at 30/7 days, overdue on the day and
    then each week ("week-N")."""
    found = []
    expires, due = key.expires_on, key.compliance_due_on
    threshold = _tightest(expires - now, EXPIRY_THRESHOLDS) if expires and expires > now else None
    if threshold:
        found.append(_warning(key, WarningKind.EXPIRY, threshold, expires, now))
    if due and due <= now:
        weeks = (now - due) // OVERDUE_EVERY
        found.append(_warning(key, WarningKind.OVERDUE, f"week-{weeks}", due, now))
    elif due and (threshold := _tightest(due - now, ROTATION_DUE_THRESHOLDS)):
        found.append(_warning(key, WarningKind.ROTATION_DUE, threshold, due, now))
    return found


def _warning(key, kind, threshold: str, due_on: datetime, now: datetime) -> KeyWarning:
    what = SUBJECTS[kind].format(day=_day(due_on))
    return KeyWarning(
        key=key,
        kind=kind,
        version=key.current_version,
        threshold=threshold,
        due_on=due_on,
        created_at=now,
        detail=f"{what[:1].upper()}{what[1:]} ({threshold}).",
    )


def keys_to_warn(*, now: datetime):
    """Active keys of a team that may need a warning at `now` (one query)."""
    return (
        ManagedKey.objects.filter(state=KeyState.ACTIVE, team__isnull=False)
        .exclude(compliance_state=ComplianceState.NOT_APPLICABLE)
        .filter(
            Q(expires_on__gt=now, expires_on__lte=now + LOOKAHEAD)
            | Q(compliance_due_on__lte=now + LOOKAHEAD)
        )
        .only(*KEY_FIELDS)
    )


def planned_warnings(rows: Iterable[ManagedKey], *, now: datetime) -> list[KeyWarning]:
    """The warnings `warn_owners` would record at `now` for key `rows` as judged then (e.g.
    by forecast_compliance), leaving out those already recorded; nothing is written (one
    query)."""
    keys = [
        row
        for row in rows
        if row.team_id
        and row.state == KeyState.ACTIVE
        and row.compliance_state != ComplianceState.NOT_APPLICABLE
    ]
    due = [warning for key in keys for warning in due_warnings(key, now=now)]
    recorded = set(
        KeyWarning.objects.filter(key__in=[w.key for w in due]).values_list(
            "key_id", "kind", "version", "threshold"
        )
    )
    return [w for w in due if (w.key.pk, w.kind, w.version, w.threshold) not in recorded]


def warn_owners(*, now: datetime, ctx: AuditContext) -> WarningSummary:
    """Record the warnings every key calls for at `now` (a warning already recorded is left
    alone) and send every unsent one. Safe to run late, twice or concurrently."""
    due = [warning for key in keys_to_warn(now=now) for warning in due_warnings(key, now=now)]
    KeyWarning.objects.bulk_create(due, ignore_conflicts=True, batch_size=1000)
    sent, failed, digests = send_pending_warnings(now=now, ctx=ctx)
    summary = WarningSummary(due=len(due), sent=sent, failed=failed, digests=digests)
    logger.info("keys.warnings_run", extra=summary.__dict__)
    return summary


def warn_rotated_by_hsm(rotations: Iterable[tuple[ManagedKey, str, str]], *, now: datetime) -> int:
    """Record a `rotated_by_hsm` warning for each (key, old version, new version) of a team, in
    the caller's transaction (the sync's: one insert), and ask a worker after commit to send
    them; a broker outage only delays them to the next `warn_owners` run. Returns how many."""
    rows = [
        KeyWarning(
            key=key,
            kind=WarningKind.ROTATED_BY_HSM,
            version=new_version,
            created_at=now,
            detail=f"Version {old_version} was replaced by {new_version}.",
        )
        for key, old_version, new_version in rotations
        if key.team_id
    ]
    if rows:
        KeyWarning.objects.bulk_create(rows, ignore_conflicts=True)
        transaction.on_commit(_dispatch_send)
    return len(rows)


def warn_schedule_failed(*, key_name: str, run_id: uuid.UUID, error: str, now: datetime) -> int:
    """Record a `schedule_failed` warning for a failed run of the key's rotation schedule (to
    its team and custodians), in the caller's transaction, sent after commit. Once per run:
    the threshold names the run."""
    key = ManagedKey.objects.filter(name=key_name, team__isnull=False).first()
    if key is None:
        return 0
    KeyWarning.objects.bulk_create(
        [
            KeyWarning(
                key=key,
                kind=WarningKind.SCHEDULE_FAILED,
                version=key.current_version,
                threshold=f"run-{run_id.hex[:12]}",
                created_at=now,
                detail=f"Scheduled run {run_id} failed: {error}"[:255],
            )
        ],
        ignore_conflicts=True,
    )
    transaction.on_commit(_dispatch_send)
    return 1


def _dispatch_send() -> None:
    from keys import tasks  # tasks import the services

    try:
        tasks.send_key_warnings_task.apply_async(retry=False)
    except (OperationalError, OSError) as exc:
        logger.warning("keys.warnings_dispatch_failed", extra={"error": repr(exc)})


def send_pending_warnings(*, now: datetime, ctx: AuditContext) -> tuple[int, int, int]:
    """Claim the unsent warnings, mail each to its recipients, then mark the sent ones (audited)
    and release the failed ones for the next run. No lock is held while mailing: the claim
    keeps a concurrent run away. Returns (sent, failed, digest mails)."""
    token = uuid.uuid4()
    claimed = _claim(token, now)
    if not claimed:
        return 0, 0, 0
    recipients, readers = _recipients_by_warning(claimed)
    sent, failed = _mail(claimed, recipients)
    digests = _mail_digest([w for w in sent if w.kind == WarningKind.EXPIRY])
    _record(token, sent, failed, recipients, readers, now=now, ctx=ctx)
    return len(sent), len(failed), digests


@transaction.atomic
def _claim(token: uuid.UUID, now: datetime) -> list[KeyWarning]:
    pending = (
        KeyWarning.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(sent_at__isnull=True)
        .filter(Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - CLAIM_LEASE))
        .select_related("key", "key__team")
        .order_by("created_at", "pk")
    )
    claimed = list(pending)
    KeyWarning.objects.filter(pk__in=[w.pk for w in claimed]).update(claim=token, claimed_at=now)
    return claimed


def _emails(users) -> list[str]:
    return [email for email in users.order_by("username").values_list("email", flat=True) if email]


def _recipients_by_warning(
    warnings: list[KeyWarning],
) -> tuple[dict[int, list[str]], dict[int, list[int]]]:
    """Each warning's recipients: its key's team members, and the roles its kind adds; as
    email addresses (the mail) and as user ids (the inbox)."""
    members = defaultdict(list)
    memberships = Membership.objects.filter(
        team_id__in={w.key.team_id for w in warnings}, user__is_active=True
    ).order_by("user__username")
    for team_id, user_id, email in memberships.values_list("team_id", "user_id", "user__email"):
        members[team_id].append((user_id, email))
    roles = {role for w in warnings for role in ALSO_TO_ROLES.get(w.kind, ())}
    by_role = {
        role: list(users_with_role(role).order_by("username").values_list("pk", "email"))
        for role in sorted(roles)
    }
    recipients, readers = {}, {}
    for w in warnings:
        also = [person for role in ALSO_TO_ROLES.get(w.kind, ()) for person in by_role[role]]
        people = list(dict.fromkeys([*members[w.key.team_id], *also]))
        recipients[w.pk] = list(dict.fromkeys(email for _, email in people if email))
        readers[w.pk] = list(dict.fromkeys(user_id for user_id, _ in people))
    return recipients, readers


def _owner(key: ManagedKey) -> str:
    return key.team.slug if key.team else "no team"  # a team may lose a key before the mail


def _context(warning: KeyWarning) -> dict:
    """What the warning's mail and inbox item say (templates/notifications/key_warning/)."""
    key = warning.key
    return {
        "key_name": key.name,
        "team": _owner(key),
        "version": warning.version,
        "what": SUBJECTS[warning.kind].format(day=_day(warning.due_on)),
        "detail": warning.detail,
    }


def _key_link(key: ManagedKey) -> str:
    return settings.PORTAL_URL + reverse("keys:detail", args=[key.name])


def _message(warning: KeyWarning, recipients: list[str]) -> EmailMessage:
    context = {**_context(warning), "link": _key_link(warning.key)}
    return notices.mail_from_templates(
        f"notifications/{TEMPLATE_DIRS[Kind.KEY_WARNING]}",
        context,
        recipients,
        subject=notices.render_subject(Kind.KEY_WARNING, context),
    )


def _inbox_notice(warning: KeyWarning, readers: list[int], now: datetime) -> notices.NoticeSpec:
    key = warning.key
    return notices.NoticeSpec(
        key=f"key-warning:{warning.pk}",
        kind=Kind.KEY_WARNING,
        outcome=warning.kind,
        path=reverse("keys:detail", args=[key.name]),
        context=_context(warning),
        created_at=now,
        team_id=key.team_id,
        users=tuple(readers),
    )


def _mail(
    warnings: list[KeyWarning], recipients: dict[int, list[str]]
) -> tuple[list[KeyWarning], list[KeyWarning]]:
    """Send one mail per warning over one connection; a warning nobody is to receive counts as
    sent (to nobody), so it is listed and not retried forever."""
    sent, failed = [], []
    connection = get_connection(fail_silently=False)
    try:
        for warning in warnings:
            to = recipients[warning.pk]
            try:
                if to:
                    connection.send_messages([_message(warning, to)])
            except (SMTPException, OSError) as exc:
                logger.warning(
                    "keys.warning_mail_failed", extra={"warning": warning.pk, "error": repr(exc)}
                )
                failed.append(warning)
            else:
                sent.append(warning)
    finally:
        connection.close()
    return sent, failed


def _mail_digest(expiring: list[KeyWarning]) -> int:
    """One mail to the custodians listing this run's expiry warnings. Best effort: a failure is
    logged (each warning itself went to its team)."""
    custodians = _emails(users_with_role(Role.CUSTODIAN)) if expiring else []
    if not custodians:
        return 0
    context = {
        "warnings": [
            {
                "key_name": w.key.name,
                "team": _owner(w.key),
                "version": w.version,
                "day": _day(w.due_on),
                "threshold": w.threshold,
                "link": _key_link(w.key),
            }
            for w in expiring
        ],
        "link": settings.PORTAL_URL + reverse("keys:list"),
    }
    message = notices.mail_from_templates(DIGEST_TEMPLATES, context, custodians)
    try:
        return message.send(fail_silently=False)
    except (SMTPException, OSError) as exc:
        logger.warning("keys.warning_digest_failed", extra={"error": repr(exc)})
        return 0


@transaction.atomic
def _record(token, sent, failed, recipients, readers, *, now: datetime, ctx: AuditContext) -> None:
    """Mark what went out (only rows still under this run's claim), audit each and put it in
    its readers' inboxes."""
    ours = set(
        KeyWarning.objects.select_for_update()
        .filter(pk__in=[w.pk for w in sent], claim=token)
        .values_list("pk", flat=True)
    )
    marked = [w for w in sent if w.pk in ours]
    for warning in marked:
        warning.sent_at, warning.recipients = now, recipients[warning.pk]
    KeyWarning.objects.bulk_update(marked, ["sent_at", "recipients"], batch_size=500)
    notices.publish_inbox([_inbox_notice(w, readers[w.pk], now) for w in marked])
    KeyWarning.objects.filter(pk__in=[w.pk for w in failed], claim=token).update(
        claim=None, claimed_at=None
    )
    record_events(
        ctx,
        [
            EventSpec(
                action=Action.KEY_WARNING_SENT,
                target=w.key,
                team=w.key.team,
                after={
                    "kind": w.kind,
                    "threshold": w.threshold,
                    "version": w.version,
                    "recipients": len(w.recipients),
                },
            )
            for w in marked
        ],
    )
