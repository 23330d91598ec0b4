"""Warnings to a key's owners (ROTATION.md §4): the threshold each key's stored dates call for,
once per key, version and threshold however often or late the job runs, mail to the right
people, a failed mail retried exactly once, the audit events, and the key page's list."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from django.core import mail
from django.db import IntegrityError, connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext

from audit.context import AuditContext
from audit.models import AuditEvent
from keys.models import KeyWarning, ManagedKey
from keys.services.warnings import (
    WarningSummary,
    due_warnings,
    send_pending_warnings,
    warn_owners,
    warn_rotated_by_hsm,
)
from tests.factories import ManagedKeyFactory, UserFactory

NOW = datetime(2026, 6, 1, 12, tzinfo=timezone.utc)
CTX = AuditContext.scheduler(job="keys.warn_owners:test")
DAY = timedelta(days=1)
FAILING_BACKEND = "tests.support.mail.FailingEmailBackend"
LOCMEM_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture
def ivy(payments_team):
    """A second member of the payments team."""
    return UserFactory(username="ivy", access={"teams": [payments_team]})


@pytest.fixture
def people(requester, ivy, custodian, admin_user, auditor):
    return {"team": [requester.email, ivy.email], "custodian": [custodian.email]}


def a_key(team, name: str, **dates) -> ManagedKey:
    fields = {"compliance_state": "compliant", "current_version": f"{name}-v1", **dates}
    return ManagedKeyFactory(name=name, team=team, **fields)


def run(now: datetime = NOW) -> WarningSummary:
    return warn_owners(now=now, ctx=CTX)


def rows() -> list[tuple]:
    return list(
        KeyWarning.objects.order_by("key__name", "created_at").values_list(
            "key__name", "kind", "threshold", "version"
        )
    )


def sent_mail() -> list[tuple[str, list[str]]]:
    return [(message.subject, message.to) for message in mail.outbox]


# --- which warning the stored dates call for (no I/O) ----------------------------------------
@pytest.mark.parametrize(
    ("_case", "expires_in", "due_in", "expected"),
    [
        ("nothing near", 40 * DAY, 60 * DAY, []),
        ("expiry at 30 days", 30 * DAY, None, [("expiry", "30d")]),
        ("expiry at 29 days", 29 * DAY, None, [("expiry", "30d")]),
        ("expiry at 7 days", 7 * DAY, None, [("expiry", "7d")]),
        ("first seen 5 days before expiry: 7d only", 5 * DAY, None, [("expiry", "7d")]),
        ("expiry at 1 day", DAY, None, [("expiry", "1d")]),
        ("expiry in 2 hours", timedelta(hours=2), None, [("expiry", "1d")]),
        ("already expired", -DAY, None, []),
        ("rotation due in 31 days", None, 31 * DAY, []),
        ("rotation due in 30 days", None, 30 * DAY, [("rotation_due", "30d")]),
        ("rotation due in 6 days", None, 6 * DAY, [("rotation_due", "7d")]),
        ("overdue on the day", None, timedelta(0), [("overdue", "week-0")]),
        ("overdue 6 days", None, -6 * DAY, [("overdue", "week-0")]),
        ("overdue 7 days", None, -7 * DAY, [("overdue", "week-1")]),
        ("overdue 20 days", None, -20 * DAY, [("overdue", "week-2")]),
        ("both", 5 * DAY, 20 * DAY, [("expiry", "7d"), ("rotation_due", "30d")]),
    ],
)
def test_the_tightest_threshold_reached_is_the_warning(_case, expires_in, due_in, expected):
    # given
    key = ManagedKey(
        name="pay-k",
        current_version="v1",
        expires_on=NOW + expires_in if expires_in is not None else None,
        compliance_due_on=NOW + due_in if due_in is not None else None,
    )
    # when
    found = due_warnings(key, now=NOW)
    # then
    assert [(w.kind, w.threshold) for w in found] == expected
    assert {w.version for w in found} <= {"v1"}


# --- recording and mailing -------------------------------------------------------------------
def test_first_run_mails_each_warning_to_the_team_and_the_expiry_digest_to_custodians(
    payments_team, people, settings
):
    # given
    a_key(payments_team, "pay-expiring", expires_on=NOW + 5 * DAY)
    a_key(payments_team, "pay-due", compliance_due_on=NOW + 20 * DAY)
    a_key(payments_team, "pay-fine", compliance_due_on=NOW + 200 * DAY)
    # when
    summary = run()
    # then
    assert summary == WarningSummary(due=2, sent=2, failed=0, digests=1)
    assert rows() == [
        ("pay-due", "rotation_due", "30d", "pay-due-v1"),
        ("pay-expiring", "expiry", "7d", "pay-expiring-v1"),
    ]
    assert sent_mail() == [
        ("[Keywarden] pay-due rotation due on 2026-06-21", people["team"]),
        ("[Keywarden] pay-expiring expires on 2026-06-06", people["team"]),
        ("[Keywarden] 1 key(s) expiring soon", people["custodian"]),
    ]
    assert "pay-expiring (payments) version pay-expiring-v1" in mail.outbox[2].body
    assert f"{settings.PORTAL_URL}/keys/pay-expiring/" in mail.outbox[1].body
    assert set(KeyWarning.objects.values_list("sent_at", flat=True)) == {NOW}
    assert [w.recipients for w in KeyWarning.objects.order_by("key__name")] == [people["team"]] * 2


def test_a_warning_and_the_digest_are_mailed_as_text_and_html_from_their_templates(
    payments_team, people, settings
):
    # given
    key = a_key(payments_team, "pay-expiring", expires_on=NOW + 5 * DAY)
    # when
    run()
    # then
    warning, digest = mail.outbox
    link = f"{settings.PORTAL_URL}/keys/pay-expiring/"
    detail = KeyWarning.objects.get(key=key).detail
    assert warning.body == (
        "The key pay-expiring (payments), version pay-expiring-v1: expires on 2026-06-06.\n\n"
        f"{detail}\n\nDetails: {link}\n"
    )
    assert digest.body == (
        "Keys that will expire soon:\n\n- pay-expiring (payments) version pay-expiring-v1 "
        f"expires on 2026-06-06 (7d warning): {link}\n"
    )
    for message, text in ((warning, "<strong>pay-expiring</strong>"), (digest, "pay-expiring</a>")):
        html, mimetype = message.alternatives[0]
        assert (mimetype, f'href="{link}"' in html, text in html) == ("text/html", True, True)
    assert f'href="{settings.PORTAL_URL}/keys/"' in digest.alternatives[0][0]


def test_running_twice_or_later_never_duplicates_rows_or_mail(payments_team, people):
    # given
    a_key(payments_team, "pay-expiring", expires_on=NOW + 5 * DAY)
    run()
    # when
    again = run()
    later = run(NOW + timedelta(hours=5))
    # then
    assert again == WarningSummary(due=1, sent=0, failed=0, digests=0)
    assert later == WarningSummary(due=1, sent=0, failed=0, digests=0)
    assert rows() == [("pay-expiring", "expiry", "7d", "pay-expiring-v1")]
    assert len(mail.outbox) == 2  # the warning and the digest, once


def test_each_tighter_threshold_is_warned_once_as_the_date_nears(payments_team, people):
    # given: a key that expires in 10 days
    a_key(payments_team, "pay-expiring", expires_on=NOW + 10 * DAY)
    # when: the job runs hourly for ten days
    for hour in range(0, 10 * 24, 6):
        run(NOW + timedelta(hours=hour))
    # then
    assert [threshold for _, _, threshold, _ in rows()] == ["30d", "7d", "1d"]
    assert [subject for subject, _ in sent_mail()] == [
        "[Keywarden] pay-expiring expires on 2026-06-11",
        "[Keywarden] 1 key(s) expiring soon",
    ] * 3


def test_a_new_version_is_warned_again(payments_team, people):
    # given
    key = a_key(payments_team, "pay-expiring", expires_on=NOW + 5 * DAY)
    run()
    # when: rotated, and the new version expires soon as well
    key.current_version = "pay-expiring-v2"
    key.save()
    run(NOW + DAY)
    # then
    assert [(threshold, version) for _, _, threshold, version in rows()] == [
        ("7d", "pay-expiring-v1"),
        ("7d", "pay-expiring-v2"),
    ]
    assert len(mail.outbox) == 4


def test_overdue_is_warned_on_the_day_then_weekly_to_team_custodians_and_admins(
    payments_team, people, admin_user
):
    # given
    a_key(payments_team, "pay-late", compliance_state="overdue", compliance_due_on=NOW)
    # when
    for day in range(0, 15):
        run(NOW + day * DAY)
    # then
    assert [threshold for _, _, threshold, _ in rows()] == ["week-0", "week-1", "week-2"]
    everyone = [*people["team"], *people["custodian"], admin_user.email]
    assert sent_mail() == [("[Keywarden] pay-late rotation overdue since 2026-06-01", everyone)] * 3


def test_keys_without_a_team_deleted_or_not_applicable_are_not_warned(payments_team, people):
    # given
    a_key(None, "legacy", expires_on=NOW + DAY)
    a_key(payments_team, "pay-gone", state="deleted", expires_on=NOW + DAY)
    a_key(payments_team, "pay-off", compliance_state="not_applicable", expires_on=NOW + DAY)
    # when
    summary = run()
    # then
    assert summary == WarningSummary(due=0, sent=0, failed=0, digests=0)
    assert (rows(), mail.outbox) == ([], [])


def test_the_unique_constraint_refuses_a_second_row_for_the_same_threshold(payments_team):
    # given
    key = a_key(payments_team, "pay-k")
    fields = {"key": key, "kind": "expiry", "version": "v1", "threshold": "7d", "created_at": NOW}
    KeyWarning.objects.create(**fields)
    # when / then
    with pytest.raises(IntegrityError), transaction.atomic():
        KeyWarning.objects.create(**fields)
    assert KeyWarning.objects.count() == 1


def test_a_failed_mail_leaves_the_warning_unsent_and_the_next_run_sends_it_once(
    payments_team, people, settings
):
    # given: the mail server is down for the first run
    a_key(payments_team, "pay-expiring", expires_on=NOW + 5 * DAY)
    settings.EMAIL_BACKEND = FAILING_BACKEND
    failed = run()
    unsent = KeyWarning.objects.get()
    # when: it is back for the next runs
    settings.EMAIL_BACKEND = LOCMEM_BACKEND
    retried = run(NOW + timedelta(hours=1))
    once_more = run(NOW + timedelta(hours=2))
    # then
    assert failed == WarningSummary(due=1, sent=0, failed=1, digests=0)
    assert (unsent.sent_at, unsent.claim, unsent.recipients) == (None, None, [])
    assert retried == WarningSummary(due=1, sent=1, failed=0, digests=1)
    assert once_more == WarningSummary(due=1, sent=0, failed=0, digests=0)
    assert sent_mail() == [
        ("[Keywarden] pay-expiring expires on 2026-06-06", people["team"]),
        ("[Keywarden] 1 key(s) expiring soon", people["custodian"]),
    ]
    assert KeyWarning.objects.get().sent_at == NOW + timedelta(hours=1)
    assert AuditEvent.objects.filter(action="key.warning_sent").count() == 1


def test_a_warning_another_run_claimed_is_left_to_it_until_its_lease_ends(payments_team, people):
    # given: a run claimed the warning and is (or was) mailing it
    key = a_key(payments_team, "pay-k")
    KeyWarning.objects.create(
        key=key,
        kind="rotated_by_hsm",
        version="v2",
        created_at=NOW,
        claim=uuid.uuid4(),
        claimed_at=NOW,
    )
    # when
    meanwhile = send_pending_warnings(now=NOW + timedelta(minutes=1), ctx=CTX)
    after_the_lease = send_pending_warnings(now=NOW + timedelta(minutes=20), ctx=CTX)
    # then
    assert (meanwhile, after_the_lease) == ((0, 0, 0), (1, 0, 0))
    assert len(mail.outbox) == 1


def test_each_sent_warning_is_audited_on_its_key(payments_team, people):
    # given
    a_key(payments_team, "pay-expiring", expires_on=NOW + 5 * DAY)
    a_key(payments_team, "pay-late", compliance_state="overdue", compliance_due_on=NOW - DAY)
    # when
    run()
    # then
    events = AuditEvent.objects.filter(action="key.warning_sent").order_by("target_name")
    assert [
        (e.target_type, e.target_name, e.team_slug, e.actor_label, e.after) for e in events
    ] == [
        (
            "keys.managedkey",
            "pay-expiring",
            "payments",
            "scheduler",
            {"kind": "expiry", "threshold": "7d", "version": "pay-expiring-v1", "recipients": 2},
        ),
        (
            "keys.managedkey",
            "pay-late",
            "payments",
            "scheduler",
            {"kind": "overdue", "threshold": "week-0", "version": "pay-late-v1", "recipients": 4},
        ),
    ]


def test_a_run_issues_as_many_queries_for_many_keys_as_for_one(payments_team, people):
    def queries_for_a_run_over(count: int, now: datetime) -> int:
        for number in range(count):
            a_key(payments_team, f"pay-{now:%d}-{number}", expires_on=now + 5 * DAY)
        with CaptureQueriesContext(connection) as captured:
            run(now)
        return len(captured)

    # when
    one = queries_for_a_run_over(1, NOW)
    many = queries_for_a_run_over(12, NOW + 20 * DAY)
    # then
    assert one == many
    assert KeyWarning.objects.filter(sent_at__isnull=True).exists() is False


# --- rotations the HSM made by itself ----------------------------------------------------------
def test_a_rotation_by_the_hsm_is_recorded_once_and_sent_after_commit(payments_team, people):
    # given
    key = a_key(payments_team, "pay-auto", current_version="v2")
    legacy = a_key(None, "legacy")
    # when: the sync sees the rotation twice (e.g. a retried chunk)
    with transaction.atomic():
        recorded = warn_rotated_by_hsm([(key, "v1", "v2"), (legacy, "v1", "v2")], now=NOW)
        warn_rotated_by_hsm([(key, "v1", "v2")], now=NOW)
    sent = send_pending_warnings(now=NOW, ctx=CTX)
    # then
    assert recorded == 1
    assert rows() == [("pay-auto", "rotated_by_hsm", "", "v2")]
    assert sent == (1, 0, 0)
    assert sent_mail() == [("[Keywarden] pay-auto rotated by the HSM's policy", people["team"])]
    assert "Version v1 was replaced by v2." in mail.outbox[0].body


def test_recording_a_rotation_asks_a_worker_to_send_after_commit(
    payments_team, people, django_capture_on_commit_callbacks
):
    # given
    key = a_key(payments_team, "pay-auto", current_version="v2")
    # when
    with django_capture_on_commit_callbacks() as callbacks:
        warn_rotated_by_hsm([(key, "v1", "v2")], now=NOW)
    # then
    assert len(callbacks) == 1
    assert KeyWarning.objects.get().sent_at is None


# --- the key page ------------------------------------------------------------------------------
def test_the_key_page_lists_the_warnings_sent(payments_team, people, requester):
    # given
    a_key(payments_team, "pay-expiring", expires_on=NOW + 5 * DAY)
    run()
    key = ManagedKey.objects.get(name="pay-expiring")
    KeyWarning.objects.create(key=key, kind="overdue", version="old", created_at=NOW)  # unsent
    client = Client()
    client.force_login(requester)
    # when
    html = client.get("/keys/pay-expiring/").content.decode()
    # then
    assert "Warnings sent" in html
    assert "<td>Expiry" in html
    assert "<td>7d</td>" in html
    assert "<code>pay-expiring-v1</code>" in html
    assert '<time datetime="2026-06-01T12:00:00+00:00">2026-06-01 12:00</time>' in html
    assert "<td>2</td>" in html
    assert "<code>old</code>" not in html


def test_the_key_page_says_when_no_warning_was_sent(payments_team, requester):
    # given
    a_key(payments_team, "pay-quiet")
    client = Client()
    client.force_login(requester)
    # when
    html = client.get("/keys/pay-quiet/").content.decode()
    # then
    assert "No warnings sent about this key." in html


def test_a_pending_warning_of_a_key_that_lost_its_team_goes_to_custodians_and_admins(
    payments_team, people, admin_user
):
    # given: an overdue warning recorded, then the key lost its team before the mail went out
    key = a_key(payments_team, "pay-late", compliance_state="overdue", compliance_due_on=NOW)
    KeyWarning.objects.bulk_create(due_warnings(key, now=NOW))
    ManagedKey.objects.filter(pk=key.pk).update(team=None)
    # when
    sent = send_pending_warnings(now=NOW, ctx=CTX)
    # then
    assert sent == (1, 0, 0)
    assert sent_mail() == [
        (
            "[Keywarden] pay-late rotation overdue since 2026-06-01",
            [*people["custodian"], admin_user.email],
        )
    ]
    assert "pay-late (no team)" in mail.outbox[0].body
