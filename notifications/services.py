"""Publish notices for events and deliver them on every channel, once per recipient.

`publish` records notices and their deliveries in one transaction, in a fixed number of queries
however many (a repeat finds a notice by its event key and adds nothing); `send_pending`
claims the undelivered deliveries together (locked rows skipped, then one UPDATE) before
sending, so two tasks never send the same one, and a failed one is left for the next try."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from smtplib import SMTPException

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.db.models import F, Q
from django.template.loader import render_to_string

from accounts.models import Team, User
from audit.actions import Action
from audit.context import AuditContext
from audit.services import record_event
from core.errors import Invalid
from notifications.chat import (
    ChatMessage,
    WebhookFailed,
    masked,
    post_webhook,
    slack_payload,
    teams_payload,
)
from notifications.models import (
    ALWAYS_ON,
    ALWAYS_ON_REASON,
    CHAT_CHANNELS,
    CUSTODIANS_RECIPIENT,
    KIND_CHANNELS,
    TEMPLATE_DIRS,
    Channel,
    Delivery,
    DeliveryState,
    Kind,
    Notice,
    Preference,
    TeamChannels,
)
from notifications.selectors import inbox_of, preferences_of

logger = logging.getLogger(__name__)
# A delivery claimed by a task that died is sent by another after this long.
CLAIM_LEASE = timedelta(minutes=5)
ERROR_MAX_LENGTH = 500


@dataclass(frozen=True)
class NoticeSpec:
    """An event as it was: `key` names it once and for all; `users` hear of it personally,
    `chat` names the chat channels ("team:<pk>", "custodians") that carry it."""

    key: str
    kind: Kind
    outcome: str
    path: str
    context: dict
    created_at: datetime
    team_id: int | None = None
    users: tuple[int, ...] = ()
    chat: tuple[str, ...] = ()


@dataclass(frozen=True)
class SendResult:
    sent: int
    failed: int


def _template(kind: str, name: str) -> str:
    return f"notifications/{TEMPLATE_DIRS[Kind(kind)]}/{name}"


def render_subject(kind: str, context: dict) -> str:
    return _subject_from(_template(kind, "subject.txt"), context)


def _subject_from(template: str, context: dict) -> str:
    text = render_to_string(template, context)
    return " ".join(text.split())[:300]  # a header is one line


def mail_from_templates(
    directory: str, context: dict, to: list[str], *, subject: str | None = None
) -> EmailMultiAlternatives:
    """A mail told by the templates in `directory` (subject.txt unless `subject` is given,
    mail.txt and its HTML alternative mail.html), rendered with `context`."""
    if subject is None:
        subject = _subject_from(f"{directory}/subject.txt", context)
    context = {**context, "subject": subject}
    message = EmailMultiAlternatives(
        subject,
        render_to_string(f"{directory}/mail.txt", context),
        settings.DEFAULT_FROM_EMAIL,
        to,
    )
    message.attach_alternative(render_to_string(f"{directory}/mail.html", context), "text/html")
    return message


@transaction.atomic
def publish(specs: Iterable[NoticeSpec]) -> list[Notice]:
    """The notices for the specs' keys, in order, each made with its deliveries on the first
    call for its key (preferences applied then); a later call returns it unchanged. A fixed
    number of queries however many notices. Two calls racing for one key make it once: the
    second's insert waits for the first's commit and skips, and their deliveries are one set
    (each delivery is unique per notice, recipient and channel)."""
    specs = list({spec.key: spec for spec in specs}.values())
    keys = [spec.key for spec in specs]
    known = Notice.objects.in_bulk(keys, field_name="key")
    fresh = [spec for spec in specs if spec.key not in known]
    if fresh:
        Notice.objects.bulk_create([_notice(spec) for spec in fresh], ignore_conflicts=True)
        known = Notice.objects.in_bulk(keys, field_name="key")
        rows = [*_personal_deliveries(fresh, known), *_chat_deliveries(fresh, known)]
        Delivery.objects.bulk_create(rows, ignore_conflicts=True)
    return [known[key] for key in keys]


def _notice(spec: NoticeSpec) -> Notice:
    return Notice(
        key=spec.key,
        kind=spec.kind,
        outcome=spec.outcome,
        team_id=spec.team_id,
        subject=render_subject(spec.kind, spec.context),
        path=spec.path,
        context=spec.context,
        created_at=spec.created_at,
    )


def deliver(specs: Iterable[NoticeSpec], *, now: datetime) -> SendResult:
    """Publish the notices (once) and send what of them is not sent yet; the sums."""
    return send_pending(publish(specs), now=now)


def settle_awaiting(*, paths: list[str], now: datetime) -> int:
    """An "approval needed" item is done once the request it names is decided or expired:
    everyone's unread one for those pages is marked read (the badge counts what still needs
    you). Returns how many."""
    if not paths:
        return 0
    return Delivery.objects.filter(
        notice__kind=Kind.AWAITING_APPROVAL,
        notice__path__in=paths,
        channel=Channel.INAPP,
        read_at__isnull=True,
    ).update(read_at=now)


def publish_inbox(specs: list[NoticeSpec]) -> int:
    """Put each notice in its users' inboxes only (their in-app preference applies), in the
    caller's transaction and in a constant number of queries however many there are; a
    notice already published is left as it is. Returns how many items it asked for."""
    if not specs:
        return 0
    Notice.objects.bulk_create([_notice(spec) for spec in specs], ignore_conflicts=True)
    by_key = Notice.objects.in_bulk([spec.key for spec in specs], field_name="key")
    wanted = {user for spec in specs for user in spec.users}
    active = set(User.objects.filter(pk__in=wanted, is_active=True).values_list("pk", flat=True))
    off = set(
        Preference.objects.filter(
            user_id__in=active, channel=Channel.INAPP, is_enabled=False
        ).values_list("user_id", "kind")
    )
    rows = [
        Delivery(
            notice=by_key[spec.key],
            channel=Channel.INAPP,
            recipient=f"user:{user}",
            user_id=user,
            state=DeliveryState.SENT,
            sent_at=spec.created_at,
        )
        for spec in specs
        for user in spec.users
        if user in active and (user, spec.kind) not in off
    ]
    return len(Delivery.objects.bulk_create(rows, ignore_conflicts=True))


def _personal_deliveries(specs: list[NoticeSpec], notices: dict[str, Notice]) -> list[Delivery]:
    """Each spec's users' deliveries on the kind's channels that they have on (two queries)."""
    wanted = {user for spec in specs for user in spec.users}
    if not wanted:
        return []
    emails = dict(User.objects.filter(pk__in=wanted, is_active=True).values_list("pk", "email"))
    off = set(
        Preference.objects.filter(
            user_id__in=emails, kind__in={spec.kind for spec in specs}, is_enabled=False
        ).values_list("user_id", "kind", "channel")
    )
    rows = []
    for spec in specs:
        for user in sorted(set(spec.users) & emails.keys()):
            for channel in KIND_CHANNELS[spec.kind]:
                on = (spec.kind, channel) in ALWAYS_ON or (user, spec.kind, channel) not in off
                if not on or (channel == Channel.MAIL and not emails[user]):
                    continue
                inbox = channel == Channel.INAPP  # the row itself is the inbox entry: delivered
                rows.append(
                    Delivery(
                        notice=notices[spec.key],
                        channel=channel,
                        recipient=f"user:{user}",
                        user_id=user,
                        state=DeliveryState.SENT if inbox else DeliveryState.PENDING,
                        sent_at=spec.created_at if inbox else None,
                    )
                )
    return rows


def _chat_deliveries(specs: list[NoticeSpec], notices: dict[str, Notice]) -> list[Delivery]:
    urls = webhook_urls({target for spec in specs for target in spec.chat})
    return [
        Delivery(notice=notices[spec.key], channel=channel, recipient=target)
        for spec in specs
        for target in spec.chat
        for channel in CHAT_CHANNELS
        if urls[target][channel]
    ]


def webhook_urls(targets: Iterable[str]) -> dict[str, dict[str, str]]:
    """Each chat target's webhook URL on each chat channel ("" where none is set): the
    custodians' from the environment, the teams' from their TeamChannels rows (one query)."""
    targets = set(targets)
    teams = {int(t.removeprefix("team:")) for t in targets if t != CUSTODIANS_RECIPIENT}
    rows = TeamChannels.objects.in_bulk(teams, field_name="team_id") if teams else {}
    urls = {}
    for target in targets:
        if target == CUSTODIANS_RECIPIENT:
            teams_url, slack_url = (
                settings.CUSTODIAN_TEAMS_WEBHOOK_URL,
                settings.CUSTODIAN_SLACK_WEBHOOK_URL,
            )
        else:
            row = rows.get(int(target.removeprefix("team:")))
            teams_url, slack_url = (
                ("", "")
                if row is None
                else (
                    row.teams_webhook_url,
                    row.slack_webhook_url,
                )
            )
        urls[target] = {Channel.TEAMS: teams_url, Channel.SLACK: slack_url}
    return urls


def send_pending(notices: list[Notice], *, now: datetime) -> SendResult:
    """Send every delivery of `notices` not sent yet, each at most once: the due ones are
    claimed together (rows another task is claiming are skipped), then sent one at a time and
    each marked at once. Returns how many went out now and how many failed (to be retried)."""
    by_pk = {notice.pk: notice for notice in notices}
    sent = failed = 0
    for delivery in _claim_due(list(by_pk), now):
        notice = by_pk[delivery.notice_id]
        try:
            _send(notice, delivery)
        except (SMTPException, OSError, WebhookFailed) as exc:
            logger.warning(
                "notifications.delivery_failed",
                extra={"delivery": delivery.pk, "channel": delivery.channel, "error": str(exc)},
            )
            _finish(delivery, DeliveryState.FAILED, error=str(exc)[:ERROR_MAX_LENGTH])
            failed += 1
        else:
            _finish(delivery, DeliveryState.SENT, sent_at=now)
            sent += 1
    return SendResult(sent=sent, failed=failed)


@transaction.atomic
def _claim_due(notice_ids: list[int], now: datetime) -> list[Delivery]:
    """The notices' deliveries to send (never sent, failed, or claimed by a task that died),
    claimed for this one in two statements. Locked rows are another claimer's: skipped; a row
    claimed meanwhile no longer matches when PostgreSQL rechecks it under the lock."""
    due = (
        Delivery.objects.filter(notice_id__in=notice_ids)
        .filter(
            Q(state__in=(DeliveryState.PENDING, DeliveryState.FAILED))
            | Q(state=DeliveryState.SENDING, claimed_at__lt=now - CLAIM_LEASE)
        )
        .select_related("user")
        .select_for_update(skip_locked=True, of=("self",))
        .order_by("pk")
    )
    claimed = list(due)
    if claimed:
        Delivery.objects.filter(pk__in=[d.pk for d in claimed]).update(
            state=DeliveryState.SENDING, claimed_at=now, attempts=F("attempts") + 1
        )
    return claimed


def _finish(delivery: Delivery, state: str, **fields) -> None:
    Delivery.objects.filter(pk=delivery.pk, state=DeliveryState.SENDING).update(
        state=state, **fields
    )


def rendered(notice: Notice) -> dict:
    return {**notice.context, "subject": notice.subject, "link": settings.PORTAL_URL + notice.path}


def _send(notice: Notice, delivery: Delivery) -> None:
    context = rendered(notice)
    if delivery.channel == Channel.MAIL:
        _mail(notice, delivery.user.email, context)
        return
    message = ChatMessage(
        subject=notice.subject,
        summary=render_to_string(_template(notice.kind, "chat.txt"), context).strip(),
        link=context["link"],
    )
    url = webhook_urls([delivery.recipient])[delivery.recipient][delivery.channel]
    if not url:
        raise WebhookFailed("no webhook is configured any more")
    build = teams_payload if delivery.channel == Channel.TEAMS else slack_payload
    post_webhook(url, build(message))


def _mail(notice: Notice, to: str, context: dict) -> None:
    directory = f"notifications/{TEMPLATE_DIRS[Kind(notice.kind)]}"
    message = mail_from_templates(directory, context, [to], subject=notice.subject)
    with get_connection(fail_silently=False) as connection:
        connection.send_messages([message])


@transaction.atomic
def mark_read(
    *, user: User, delivery_ids: list[int] | None, now: datetime, ctx: AuditContext
) -> int:
    """Mark the user's own unread inbox items read: those in `delivery_ids`, or all of them
    when it is None. Another user's items are never touched. Returns how many (audited)."""
    unread = inbox_of(user).filter(read_at__isnull=True)
    if delivery_ids is not None:
        unread = unread.filter(pk__in=delivery_ids)
    marked = list(unread.select_for_update().values_list("pk", flat=True))
    Delivery.objects.filter(pk__in=marked).update(read_at=now)
    if marked:
        record_event(
            ctx,
            Action.NOTIFICATION_INBOX_READ,
            target=user,
            team=None,
            after={"items": marked},
        )
    return len(marked)


@transaction.atomic
def save_preferences(*, user: User, enabled: dict[str, set[str]], ctx: AuditContext) -> None:
    """Make the user's preferences exactly `enabled` (kind → personal channels on). Raises
    Invalid when a channel that stays on (ALWAYS_ON) is turned off, naming why."""
    for kind, channel in ALWAYS_ON:
        if channel not in enabled.get(kind, set()):
            raise Invalid({f"{kind}:{channel}": [ALWAYS_ON_REASON]})
    before = preferences_of(user)
    rows = [
        Preference(user=user, kind=kind, channel=channel, is_enabled=False)
        for kind in Kind
        for channel in KIND_CHANNELS[kind]
        if channel not in enabled.get(kind, set())
    ]
    Preference.objects.filter(user=user).delete()
    Preference.objects.bulk_create(rows)  # only what is off: a new kind starts on
    after = preferences_of(user)
    if after != before:
        record_event(
            ctx,
            Action.NOTIFICATION_PREFERENCES_UPDATED,
            target=user,
            team=None,
            before=_as_lists(before),
            after=_as_lists(after),
        )


def _as_lists(preferences: dict[str, set[str]]) -> dict[str, list[str]]:
    return {kind: sorted(channels) for kind, channels in preferences.items()}


@transaction.atomic
def save_team_channels(
    *, team: Team, teams_webhook_url: str | None, slack_webhook_url: str | None, ctx: AuditContext
) -> TeamChannels:
    """Set the team's chat webhooks (None keeps one, "" removes it); audited with the URLs
    masked. Raises Invalid for a URL that is not https."""
    for field, url in (
        ("teams_webhook_url", teams_webhook_url),
        ("slack_webhook_url", slack_webhook_url),
    ):
        if url and not url.startswith("https://"):
            raise Invalid({field: ["A webhook URL must start with https:// (it is a secret)."]})
    row, _ = TeamChannels.objects.select_for_update().get_or_create(team=team)
    before = {"teams": masked(row.teams_webhook_url), "slack": masked(row.slack_webhook_url)}
    if teams_webhook_url is not None:
        row.teams_webhook_url = teams_webhook_url
    if slack_webhook_url is not None:
        row.slack_webhook_url = slack_webhook_url
    row.save()
    after = {"teams": masked(row.teams_webhook_url), "slack": masked(row.slack_webhook_url)}
    record_event(ctx, Action.TEAM_CHAT_CHANNELS_UPDATED, target=team, before=before, after=after)
    return row
