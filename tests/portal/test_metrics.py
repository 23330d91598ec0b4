"""GET /metrics: who may scrape, and the exact values after a known sequence of requests run by a
real worker against the emulator."""

import os
import time
from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from approvals.models import ChangeRequest, Operation, State
from audit.context import AuditContext
from audit.models import AuditEvent
from keys import metrics as counters
from keys.models import ComplianceState, KeyState, ManagedKey
from keys.services.sync import sync_inventory
from portal.heartbeats import record_heartbeat, required_queues
from portal.metrics import exposition
from portal.models import Heartbeat, ProcessKind
from tests.approvals.conftest import approve, submit, wait_for_state

TOKEN = "metrics-test-token-0123456789"


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """(sample name, sorted labels) → value of every sample in a scrape."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


# --- access ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("_case", "headers", "status", "body"),
    [
        (
            "no token",
            {},
            401,
            "GET /metrics needs Authorization: Bearer <METRICS_TOKEN>.\n",
        ),
        (
            "wrong token",
            {"HTTP_AUTHORIZATION": "Bearer guessed"},
            403,
            "The bearer token is not this deployment's METRICS_TOKEN.\n",
        ),
        (
            "token under another scheme",
            {"HTTP_AUTHORIZATION": f"Token {TOKEN}"},
            403,
            "The bearer token is not this deployment's METRICS_TOKEN.\n",
        ),
    ],
)
def test_metrics_refuse_a_caller_without_the_token(
    _case, headers, status, body, client, db, settings
):
    settings.METRICS_TOKEN = TOKEN
    response = client.get("/metrics", **headers)
    assert (response.status_code, response.content.decode()) == (status, body)
    assert b"keywarden_" not in response.content


def test_a_signed_in_admin_without_the_token_is_refused_too(client, admin_user, settings):
    settings.METRICS_TOKEN = TOKEN
    client.force_login(admin_user)
    assert client.get("/metrics").status_code == 401


def test_metrics_do_not_exist_without_a_token_or_network(client, db, settings):
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_NETWORKS = "", []
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 404


def test_an_allowed_network_scrapes_without_a_token(client, db, settings):
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_NETWORKS = "", ["10.1.0.0/16"]
    inside = client.get("/metrics", REMOTE_ADDR="10.1.2.3")
    outside = client.get("/metrics", REMOTE_ADDR="10.2.0.1")
    assert inside.status_code == 200
    assert "keywarden_requests" in inside.content.decode()
    assert (outside.status_code, outside.content.decode()) == (
        403,
        "The address 10.2.0.1 is not in METRICS_ALLOWED_NETWORKS.\n",
    )


def test_metrics_answer_the_token_with_django_and_keywarden_series(client, db, settings):
    settings.METRICS_TOKEN = TOKEN
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    text = response.content.decode()
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    assert "django_http_requests_before_middlewares_total" in text
    assert 'django_db_execute_total{alias="default",vendor="postgresql"}' in text
    assert 'keywarden_metrics_source_up{source="database"} 1.0' in text


def _wait_for_execution_counts(store, count: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = store.histograms(counters.EXECUTION_SECONDS)
        if sum(series.buckets[-1][1] for series in found) >= count:
            return True
        time.sleep(0.05)
    return False


# --- values after a known sequence ----------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_metrics_after_submit_approve_and_execute(
    client, settings, requester, custodian, second_custodian, live_worker, hsm
):
    # given: an inventory synced once, empty counters, one 429 waiting for the key's creation
    settings.METRICS_TOKEN = TOKEN
    sync = sync_inventory(ctx=AuditContext.system("test"))
    store = counters.metrics_store()
    store.reset()
    hsm.process.set_faults(
        [{"match": "POST /keys/pay-metrics/create", "status": 429, "retry_after": 0, "count": 1}]
    )
    # when: one request runs to the end through the live worker, one stays pending
    change = submit(
        requester,
        params={"name": "pay-metrics", "kty": "EC-HSM", "curve": "P-256", "key_ops": ["sign"]},
    )
    change = wait_for_state(approve(change, custodian, second_custodian), State.SUCCEEDED)
    submit(
        requester,
        params={"name": "pay-later", "kty": "EC-HSM", "curve": "P-256", "key_ops": ["sign"]},
    )
    live_worker.wait_idle()
    # the worker writes its counts every METRICS_FLUSH_SECONDS; its last is the execution's
    assert _wait_for_execution_counts(store, 1, timeout=10)
    worker_name = live_worker.hostname.replace("%h", os.uname().nodename)
    wait_for_heartbeat(worker_name)
    now = timezone.now()
    record_heartbeat(kind=ProcessKind.BEAT, name="beat@test", now=now - timedelta(seconds=4))
    scrape = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    values = samples(exposition(now=now).decode())
    # then: the scrape over HTTP answers, and every series holds exactly what happened
    assert scrape.status_code == 200
    for state in State.values:
        for operation in Operation.values:
            expected = {
                (State.SUCCEEDED, Operation.KEY_CREATE): 1,
                (State.PENDING, Operation.KEY_CREATE): 1,
            }.get((state, operation), 0)
            labels = (("operation", operation), ("state", state))
            assert values[("keywarden_requests", labels)] == expected, (state, operation)
    assert values[("keywarden_oldest_approved_request_age_seconds", ())] == 0
    seconds = (change.finished_at - change.decided_at).total_seconds()
    series = (("operation", "key.create"), ("outcome", "succeeded"))
    assert values[("keywarden_execution_seconds_count", series)] == 1
    assert values[("keywarden_execution_seconds_sum", series)] == seconds
    for bound in (*counters.EXECUTION_SECONDS_BUCKETS, float("inf")):
        label = "+Inf" if bound == float("inf") else str(bound)
        bucket = values[("keywarden_execution_seconds_bucket", (("le", label), *series))]
        assert bucket == (1 if seconds <= bound else 0), label
    hsm_calls = {
        labels[0][1]: value
        for (name, labels), value in values.items()
        if name == "keywarden_hsm_calls_total"
    }
    assert hsm_calls == {"key.create": 2, "key.get": 1}  # the look first, the 429, its retry
    assert {
        labels: value
        for (name, labels), value in values.items()
        if name == "keywarden_hsm_errors_total"
    } == {
        (("error", "HsmThrottled"), ("operation", "key.create")): 1,
        (("error", "HsmNotFound"), ("operation", "key.get")): 1,  # no such key yet: create it
    }
    assert {
        labels: value
        for (name, labels), value in values.items()
        if name == "keywarden_hsm_throttled_total"
    } == {(("operation", "key.create"),): 1}
    for queue in required_queues():
        assert values[("keywarden_queue_depth", (("queue", queue),))] == 0
        assert values[("keywarden_queue_workers_live", (("queue", queue),))] == 1
    worker_age = values[("keywarden_worker_heartbeat_age_seconds", (("worker", worker_name),))]
    assert 0 <= worker_age <= settings.WORKER_HEARTBEAT_SECONDS  # it beats while we look
    assert values[("keywarden_beat_heartbeat_age_seconds", ())] == 4
    assert values[("keywarden_beat_live", ())] == 1
    unsealed = AuditEvent.objects.filter(sequence__isnull=True).count()
    head = AuditEvent.objects.filter(sequence__isnull=False).order_by("-sequence").first()
    assert values[("keywarden_audit_unsealed_events", ())] == unsealed
    assert (
        values[("keywarden_audit_head_age_seconds", ())] == (now - head.occurred_at).total_seconds()
    )
    assert values[("keywarden_inventory_last_sync_age_seconds", ())] == (
        (now - sync.finished_at).total_seconds()
    )
    live = ManagedKey.objects.exclude(state=KeyState.PURGED)
    for state in ComplianceState.values:
        expected = live.filter(compliance_state=state).count()
        assert values[("keywarden_keys_compliance", (("state", state),))] == expected, state
    assert live.filter(name="pay-metrics").count() == 1
    assert ChangeRequest.objects.count() == 2


def wait_for_heartbeat(name: str, timeout: float = 15) -> None:
    """The worker's row comes back within a period of the previous test's flush."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if Heartbeat.objects.filter(kind=ProcessKind.WORKER, name=name).exists():
            return
        time.sleep(0.2)
    raise AssertionError(f"no heartbeat of {name} within {timeout}s")
