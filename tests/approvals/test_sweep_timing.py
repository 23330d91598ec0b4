"""The sweep that takes over a dead attempt comes when its lease runs out, not up to a whole
sweep period later (approvals.services.next_lease_expiry)."""

from datetime import timedelta

import pytest
from django.conf import settings as configured
from django.utils import timezone

from approvals import services
from approvals.models import ChangeRequest, Execution, State
from tests.approvals.conftest import submit

CREATE = {"name": "pay-new", "kty": "EC-HSM", "curve": "P-256", "key_ops": ["sign", "verify"]}

LEASE = 8
SWEEP = configured.SWEEP_SECONDS  # the sweep period beat uses (portal.celery_config), as configured


@pytest.fixture
def running(approved_request, settings):
    """The approved request as a worker leaves it mid-attempt (RUNNING, one RUNNING attempt)."""
    settings.EXECUTION_LEASE_SECONDS = LEASE
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


def test_a_lease_already_out_does_not_hide_the_next_one(running, requester):
    # given: one attempt whose lease is out (this sweep takes it over) and one whose runs out soon
    now, beat = running
    beat(seconds_ago=LEASE + 1)
    other = submit(requester, params={**CREATE, "name": "pay-other"})
    ChangeRequest.objects.filter(pk=other.pk).update(state=State.RUNNING)
    soon = now - timedelta(seconds=LEASE - 2)
    Execution.objects.create(
        request=other, attempt=1, started_at=soon, heartbeat_at=soon, outcome="running"
    )
    # then: the extra sweep comes when the second one runs out
    assert services.next_lease_expiry(now=now) == soon + timedelta(seconds=LEASE)
