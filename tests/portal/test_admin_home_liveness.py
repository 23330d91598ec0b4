"""The admin home's "Workers and beat" card: each process's heartbeat, and the approved request
that has waited longest for a worker, in the warning colour past the threshold."""

import re
from datetime import timedelta

from django.test import Client
from django.utils import timezone

from approvals.models import ChangeRequest
from portal.heartbeats import record_heartbeat, required_queues
from portal.models import ProcessKind
from tests.approvals.conftest import approve, submit


def home_of(user) -> str:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client.get("/").content.decode()


def rendered_within(user) -> tuple[str, float]:
    """The home page, and how many seconds rendering it took (ages shown may grow by that)."""
    started = timezone.now()
    html = home_of(user)
    return html, (timezone.now() - started).total_seconds()


def shown_seconds(html: str, pattern: str) -> int:
    """The whole seconds that `pattern` (with one `(\\d+)`) shows."""
    return int(re.search(pattern, html)[1])


def card(html: str) -> str:
    return re.search(r'<section class="card" aria-labelledby="liveness">.*?</section>', html, re.S)[
        0
    ]


def approved_ago(requester, custodian, second_custodian, seconds: int) -> ChangeRequest:
    change = approve(submit(requester), custodian, second_custodian)  # no commit: never runs
    ChangeRequest.objects.filter(pk=change.pk).update(
        decided_at=timezone.now() - timedelta(seconds=seconds)
    )
    return change


def test_admin_home_shows_live_and_stale_workers_a_missing_beat_and_a_late_request(
    admin_user, requester, custodian, second_custodian, settings
):
    # given: one worker beat 4 s ago, one 45 s ago (stale after 30 s), beat never ticked,
    # and a request approved 75 s ago that no worker started
    settings.APPROVED_WAIT_WARNING_SECONDS = 60
    now = timezone.now()
    queues = sorted(required_queues())
    record_heartbeat(
        kind=ProcessKind.WORKER, name="w1@a", queues=queues, now=now - timedelta(seconds=4)
    )
    record_heartbeat(
        kind=ProcessKind.WORKER, name="w2@b", queues=queues, now=now - timedelta(seconds=45)
    )
    change = approved_ago(requester, custodian, second_custodian, 75)
    # when
    page, took = rendered_within(admin_user)
    html = card(page)
    # then: ages as at the render (which took `took` seconds)
    live = shown_seconds(html, r"live</span> worker <code>w1@a</code>: last heartbeat (\d+) s ago")
    stale = shown_seconds(html, r"stale</span> worker <code>w2@b</code>: last heartbeat (\d+) s")
    waited = shown_seconds(html, r"approved (\d+) s ago")
    assert 4 <= live <= 4 + took + 1
    assert 45 <= stale <= 45 + took + 1
    assert 75 <= waited <= 75 + took + 1
    assert f"last heartbeat {live} s ago ({', '.join(queues)})</li>" in html
    assert (
        '<li><span class="badge bad">none</span> Beat has not ticked: periodic jobs (sweeper, '
        "sync, sealing) do not run.</li>"
    ) in html
    assert (
        '<p class="warning">Oldest approved request not yet running: '
        f'<a href="/requests/{change.pk}/">'
        f"Create key on pay-new</a>, approved {waited} s ago — longer than 60 s: check the "
        "workers.</p>"
    ) in html


def test_admin_home_shows_a_short_wait_without_warning(
    admin_user, requester, custodian, second_custodian, settings
):
    settings.APPROVED_WAIT_WARNING_SECONDS = 60
    record_heartbeat(kind=ProcessKind.BEAT, name="beat@a", now=timezone.now())
    change = approved_ago(requester, custodian, second_custodian, 20)
    page, took = rendered_within(admin_user)
    html = card(page)
    assert (
        0
        <= shown_seconds(html, r"live</span> beat <code>beat@a</code>: last tick (\d+) s")
        <= took + 1
    )
    waited = shown_seconds(html, r"approved (\d+) s ago")
    assert 20 <= waited <= 20 + took + 1
    assert (
        f'<p>Oldest approved request not yet running: <a href="/requests/{change.pk}/">'
        f"Create key on pay-new</a>, approved {waited} s ago.</p>"
    ) in html
    assert "No worker has sent a heartbeat: approved requests will not run." in html


def test_admin_home_says_when_nothing_waits_for_a_worker(admin_user):
    assert "<p>No approved request is waiting for a worker.</p>" in card(home_of(admin_user))


def test_only_admins_see_the_liveness_card(custodian, auditor):
    assert 'aria-labelledby="liveness"' not in home_of(custodian)
    assert 'aria-labelledby="liveness"' not in home_of(auditor)
