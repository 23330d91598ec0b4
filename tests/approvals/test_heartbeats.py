"""The beat an attempt runs before each HSM try: skipped right after a fresh stamp of its
lease, written (and fenced) otherwise (approvals.lease.Beater)."""

import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from approvals import lease
from approvals.models import AttemptOutcome, Execution
from audit.context import AuditContext
from tests.approvals.conftest import approve, submit

pytestmark = pytest.mark.django_db


def claimed(requester, custodian, second_custodian) -> lease.Attempt:
    from approvals.services.execute import _claim

    change = approve(submit(requester), custodian, second_custodian)
    _, attempt, _, _ = _claim(change.pk, "task-a", AuditContext.worker(task_id="task-a"))
    return attempt


def test_the_fresh_window_stays_inside_the_settle_margin_and_the_lease():
    margin = settings.HSM_SETTLE_SECONDS - settings.HSM_TRY_SECONDS
    assert 0 < lease.fresh_seconds() <= margin / 2
    assert lease.fresh_seconds() < settings.EXECUTION_LEASE_SECONDS


def test_a_beat_right_after_the_claim_writes_nothing(requester, custodian, second_custodian):
    # given
    attempt = claimed(requester, custodian, second_custodian)
    stamped = Execution.objects.get(pk=attempt.pk).heartbeat_at
    beat = lease.Beater(attempt, stamped_at=time.monotonic())
    # when
    beat()
    # then
    assert Execution.objects.get(pk=attempt.pk).heartbeat_at == stamped


def test_a_beat_after_the_window_extends_the_lease(requester, custodian, second_custodian):
    # given
    attempt = claimed(requester, custodian, second_custodian)
    stamped = Execution.objects.get(pk=attempt.pk).heartbeat_at
    beat = lease.Beater(attempt, stamped_at=time.monotonic() - lease.fresh_seconds())
    # when
    beat()
    beat()  # fresh again: skipped
    # then
    assert Execution.objects.get(pk=attempt.pk).heartbeat_at > stamped
    assert beat.stamped_at > time.monotonic() - lease.fresh_seconds()


def test_a_fenced_attempt_is_stopped_by_its_next_written_beat(
    requester, custodian, second_custodian
):
    # given: the attempt was taken over
    attempt = claimed(requester, custodian, second_custodian)
    stale = timezone.now() - timedelta(seconds=settings.EXECUTION_LEASE_SECONDS + 1)
    Execution.objects.filter(pk=attempt.pk).update(
        heartbeat_at=stale, outcome=AttemptOutcome.ABANDONED
    )
    beat = lease.Beater(attempt, stamped_at=time.monotonic() - lease.fresh_seconds())
    # when / then
    with pytest.raises(lease.AttemptFenced):
        beat()
