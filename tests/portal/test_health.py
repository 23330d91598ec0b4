from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.roles import Role
from core.errors import Conflict
from keys.gateway import HsmUnavailable
from keys.services.bootstrap import bootstrap_audit_signer
from keys.services.readiness import MissingPermissions
from portal.health import failure_detail
from portal.heartbeats import (
    ProcessesDown,
    check_beat,
    check_workers,
    record_heartbeat,
    required_queues,
)
from portal.models import Heartbeat, ProcessKind

DOWN_HSM = "https://127.0.0.1:9"  # nothing listens on this port


def test_healthz_answers_anonymous(anonymous_client):
    response = anonymous_client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"process": {"status": "ok"}}}


def test_readyz_names_each_check_and_fails_without_hsm(anonymous_client, db, settings):
    # given
    settings.HSM_URL = DOWN_HSM
    # when
    response = anonymous_client.get("/readyz")
    # then
    body = response.json()
    assert response.status_code == 503
    assert set(body["checks"]) == {"database", "broker", "hsm", "workers", "beat"}
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["broker"]["status"] == "ok"
    assert body["checks"]["hsm"]["status"] == "fail"


@pytest.fixture
def beating(db):
    """A worker serving every queue and beat, both having just beaten."""
    now = timezone.now()
    record_heartbeat(
        kind=ProcessKind.WORKER, name="w1@host", queues=list(required_queues()), now=now
    )
    record_heartbeat(kind=ProcessKind.BEAT, name="beat@host", now=now)


@pytest.fixture
def ready_hsm(hsm, beating):
    """The emulator with Keywarden's role and the audit signer bootstrapped: /readyz passes."""
    bootstrap_audit_signer(admin_gateway=hsm.admin, key_manager_gateway=hsm.keywarden)
    return hsm


@pytest.mark.parametrize(("_case", "role"), [("anonymous", None), ("auditor", Role.AUDITOR)])
def test_readyz_tells_anyone_but_admins_each_status_only(
    _case, role, client, user_for_role, db, settings
):
    # given
    settings.HSM_URL = DOWN_HSM
    if role:
        client.force_login(user_for_role(role))
    # when
    response = client.get("/readyz")
    # then: no URL, no rights, no exception text
    assert response.status_code == 503
    assert response.json() == {
        "status": "fail",
        "checks": {
            "database": {"status": "ok"},
            "broker": {"status": "ok"},
            "hsm": {"status": "fail"},
            "workers": {"status": "fail"},
            "beat": {"status": "fail"},
        },
    }


def test_readyz_tells_anonymous_callers_nothing_of_a_ready_hsm(
    anonymous_client, ready_hsm, db, settings
):
    response = anonymous_client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"]["hsm"] == {"status": "ok"}
    assert settings.HSM_URL not in response.content.decode()


def test_readyz_gives_admins_the_details(client, admin_user, ready_hsm, settings):
    # given
    client.force_login(admin_user)
    # when
    response = client.get("/readyz")
    # then
    hsm = response.json()["checks"]["hsm"]
    assert response.status_code == 200
    assert hsm["detail"] == f"{settings.HSM_URL} reachable; all 15 data actions granted"
    assert hsm["duration_ms"] >= 0


def test_readyz_tells_admins_why_the_hsm_failed(client, admin_user, db, settings):
    # given
    settings.HSM_URL = DOWN_HSM
    client.force_login(admin_user)
    # when
    hsm = client.get("/readyz").json()["checks"]["hsm"]
    # then
    assert (hsm["status"], hsm["detail"].split(":")[0]) == ("fail", "HsmUnavailable")


@pytest.mark.parametrize(
    ("_case", "error", "detail"),
    [
        ("missing right", MissingPermissions("lacks keys/backup"), "lacks keys/backup"),
        ("HSM error", HsmUnavailable("HSM unreachable"), "HsmUnavailable: HSM unreachable"),
        ("domain error", Conflict("busy"), "Conflict: busy"),
        (
            "anything else",
            RuntimeError("postgres://keywarden:s3cret@db/keywarden"),
            "RuntimeError (details in the log)",
        ),
    ],
)
def test_a_failed_check_says_only_what_we_wrote(_case, error, detail):
    assert failure_detail(error) == detail


@pytest.mark.parametrize(
    ("_case", "role"),
    [("requester", Role.REQUESTER), ("custodian", Role.CUSTODIAN), ("auditor", Role.AUDITOR)],
)
def test_healthz_answers_signed_in_users(_case, role, user_for_role, client):
    client.force_login(user_for_role(role))
    assert client.get("/healthz").status_code == 200


def test_every_response_carries_a_request_id(anonymous_client):
    response = anonymous_client.get("/healthz")
    assert len(response["X-Request-ID"]) == 32


def test_well_formed_caller_request_id_is_kept(anonymous_client):
    response = anonymous_client.get("/healthz", HTTP_X_REQUEST_ID="trace-1234-abcd")
    assert response["X-Request-ID"] == "trace-1234-abcd"


def test_malformed_caller_request_id_is_replaced(anonymous_client):
    response = anonymous_client.get("/healthz", HTTP_X_REQUEST_ID="<script>")
    assert response["X-Request-ID"] != "<script>"


def test_caller_request_id_with_a_trailing_newline_is_replaced(anonymous_client):
    response = anonymous_client.get("/healthz", HTTP_X_REQUEST_ID="trace-1234-abcd\n")
    assert len(response["X-Request-ID"]) == 32
    assert response["X-Request-ID"] != "trace-1234-abcd"


# --- workers and beat: heartbeats -----------------------------------------------------------------
def test_workers_check_passes_until_the_heartbeat_is_three_periods_old(db, settings):
    # given: one worker serving every queue, beating every 10 s
    settings.WORKER_HEARTBEAT_SECONDS, settings.HEARTBEAT_STALE_PERIODS = 10, 3
    beat_at = timezone.now()
    record_heartbeat(
        kind=ProcessKind.WORKER, name="w1@host", queues=list(required_queues()), now=beat_at
    )
    # when / then: live at exactly 30 s, stale a moment later
    assert check_workers(now=beat_at + timedelta(seconds=30)) == (
        "1 worker(s) live, every queue served"
    )
    with pytest.raises(ProcessesDown) as stale:
        check_workers(now=beat_at + timedelta(seconds=30, milliseconds=1))
    assert stale.value.message == (
        f"no worker heartbeat within 30 s for queue(s) {', '.join(required_queues())} "
        "(0 of 1 known workers live)"
    )


def test_workers_check_names_the_queues_no_live_worker_serves(db, settings):
    # given: a live worker for executions only
    now = timezone.now()
    queues = list(settings.CELERY_EXECUTION_QUEUES)
    record_heartbeat(kind=ProcessKind.WORKER, name="exec@host", queues=queues, now=now)
    # when
    with pytest.raises(ProcessesDown) as down:
        check_workers(now=now)
    # then
    assert down.value.message == (
        f"no worker heartbeat within 30 s for queue(s) {settings.CELERY_NOTIFY_QUEUE}, "
        f"{settings.CELERY_SWEEP_QUEUE}, {settings.CELERY_PERIODIC_QUEUE} (1 of 1 known workers "
        "live)"
    )


def test_beat_check_fails_when_beat_never_ticked_or_went_quiet(db):
    now = timezone.now()
    with pytest.raises(ProcessesDown) as never:
        check_beat(now=now)
    assert never.value.message == "no beat heartbeat within 30 s (never seen)"
    record_heartbeat(kind=ProcessKind.BEAT, name="beat@host", now=now)
    assert check_beat(now=now + timedelta(seconds=12)) == "beat live, last tick 12 s ago"
    with pytest.raises(ProcessesDown) as quiet:
        check_beat(now=now + timedelta(seconds=31))
    assert quiet.value.message == "no beat heartbeat within 30 s (last 31 s ago)"


def test_readyz_tells_admins_which_queue_has_no_worker(client, admin_user, db, settings):
    # given: beat is live, no worker ever beat
    settings.HSM_URL = DOWN_HSM
    record_heartbeat(kind=ProcessKind.BEAT, name="beat@host", now=timezone.now())
    client.force_login(admin_user)
    # when
    checks = client.get("/readyz").json()["checks"]
    # then
    assert checks["beat"]["status"] == "ok"
    assert (checks["workers"]["status"], checks["workers"]["detail"]) == (
        "fail",
        f"ProcessesDown: no worker heartbeat within 30 s for queue(s) "
        f"{', '.join(required_queues())} (0 of 0 known workers live)",
    )


def test_the_beat_scheduler_writes_a_heartbeat_on_its_tick(db):
    # given: django-celery-beat's scheduler as beat runs it, on our app
    from portal.celery import app
    from portal.heartbeats import HeartbeatScheduler

    scheduler = HeartbeatScheduler(app=app, lazy=True)
    now = timezone.now()
    # when
    scheduler._beat(now=now)
    # then
    assert list(Heartbeat.objects.values_list("kind", "beat_at")) == [(ProcessKind.BEAT, now)]
    assert check_beat(now=now) == "beat live, last tick 0 s ago"


def test_check_liveness_command_answers_a_container_healthcheck(db, settings):
    from io import StringIO

    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError) as never:
        call_command("check_liveness", "beat", name="beat@box")
    assert str(never.value) == "beat beat@box: no heartbeat yet"
    record_heartbeat(kind=ProcessKind.BEAT, name="beat@box", now=timezone.now())
    out = StringIO()
    call_command("check_liveness", "beat", name="beat@box", stdout=out)
    assert out.getvalue() == "beat beat@box: last heartbeat 0 s ago\n"
    Heartbeat.objects.filter(name="beat@box").update(beat_at=timezone.now() - timedelta(seconds=40))
    with pytest.raises(CommandError) as stale:
        call_command("check_liveness", "beat", name="beat@box")
    assert str(stale.value) == "beat beat@box: last heartbeat 40 s ago, stale"
