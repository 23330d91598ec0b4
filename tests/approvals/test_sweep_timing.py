"""The sweep that takes over a dead attempt comes when its lease runs out, not up to a whole
sweep period later (approvals.services.next_lease_expiry)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from approvals import services
from approvals.models import ChangeRequest, Execution, State

LEASE, SWEEP = 8, 30


@pytest.fixture
def running(approved_request, settings):
    """The approved request as a worker leaves it mid-attempt (RUNNING, one RUNNING attempt)."""
    settings.EXECUTION_LEASE_SECONDS, settings.SWEEP_SECONDS = LEASE, SWEEP
    ChangeRequest.objects.filter(pk=approved_request.pk).update(state=State.RUNNING)
    now = timezone.now()

    def beat(seconds_ago: float) -> Execution:
        at = now - timedelta(seconds=seconds_ago)
        return Execution.objects.update_or_create(
            request=approved_request,
            attempt=1,
            defaults={"started_at": at, "heartbeat_at": at, "outcome": "running"},
        )[0]

    return now, beat


def test_a_lease_running_out_before_the_next_sweep_is_swept_when_it_does(running):
    now, beat = running
    attempt = beat(seconds_ago=LEASE - 3)
    assert services.next_lease_expiry(now=now) == attempt.heartbeat_at + timedelta(seconds=LEASE)


@pytest.mark.parametrize(
    ("seconds_ago", "why"),
    [(LEASE + 1, "already out: this sweep takes it over"), (LEASE - SWEEP - 1, "after the next")],
)
def test_no_extra_sweep_when_the_lease_is_out_or_outlasts_the_next_sweep(running, seconds_ago, why):
    now, beat = running
    beat(seconds_ago=seconds_ago)
    assert services.next_lease_expiry(now=now) is None, why


def test_no_extra_sweep_for_a_finished_request_or_attempt(running, approved_request):
    now, beat = running
    attempt = beat(seconds_ago=LEASE - 3)
    Execution.objects.filter(pk=attempt.pk).update(outcome="succeeded", finished_at=now)
    assert services.next_lease_expiry(now=now) is None
    Execution.objects.filter(pk=attempt.pk).update(outcome="running", finished_at=None)
    ChangeRequest.objects.filter(pk=approved_request.pk).update(state=State.SUCCEEDED)
    assert services.next_lease_expiry(now=now) is None
