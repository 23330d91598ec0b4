"""Pacing toward the HSM's service limits (keys.gateway.pacing): one token log per HSM and
class in the real Redis, shared by processes; the gateway takes a token before every try."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
import uuid

import pytest
from django.conf import settings

from keys.gateway import HsmGateway, HsmPaced, Pacer, RetryPolicy, build_credential
from keys.gateway.pacing import OPERATION_CLASSES
from tests.support.worker import ROOT

LIMITS = {klass: 1000 for klass in set(OPERATION_CLASSES.values())}


@pytest.fixture
def hsm_url():
    """An HSM URL no other test paces against (its windows start empty)."""
    return f"https://pacing-{uuid.uuid4().hex[:12]}.managedhsm.azure.net"


def pacer(**overrides) -> Pacer:
    options = {"limits": LIMITS, "window": 10.0, "max_wait": 10.0, **overrides}
    return Pacer.from_url(settings.CELERY_BROKER_URL, **options)


TAKE_TOKENS = """
import json, sys, time
from keys.gateway.pacing import Pacer
limits = {c: int(sys.argv[3]) for c in json.loads(sys.argv[4])}
window = float(sys.argv[5])
pacer = Pacer.from_url(sys.argv[1], limits=limits, window=window, max_wait=30, margin=0.1)
times = []
for _ in range(int(sys.argv[6])):
    pacer.acquire(sys.argv[2], "key.rotate")
    times.append(time.time())
print(json.dumps(times))
"""


def test_two_processes_never_get_more_tokens_per_window_than_the_limit(hsm_url):
    # given: two processes taking 9 tokens each of a class allowing 4 per 1.5 s (counted in
    # 1.6 s: the margin absorbs a process waking late from its wait)
    classes = json.dumps(sorted(set(OPERATION_CLASSES.values())))
    args = [settings.CELERY_BROKER_URL, hsm_url, "4", classes, "1.5", "9"]
    # when
    started = time.time()
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", TAKE_TOKENS, *args], cwd=ROOT, stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [process.communicate(timeout=60)[0] for process in processes]
    # then: in every 1.5 s window at most 4 of the 18, and no faster than the limit allows
    times = sorted(t for output in outputs for t in json.loads(output))
    assert len(times) == 18
    most_in_a_window = max(
        sum(1 for other in times if first <= other < first + 1.5) for first in times
    )
    assert most_in_a_window == 4
    assert times[-1] - started >= (18 // 4) * 1.6 - 0.1


def test_a_token_further_than_the_wait_bound_is_refused_with_when_to_come_back(hsm_url):
    # given: 2 tokens per 10 s, waits of at most half a second
    limits = {**LIMITS, "key_manage": 2}
    quick = pacer(limits=limits, max_wait=0.5)
    assert quick.acquire(hsm_url, "key.rotate") == 0.0
    assert quick.acquire(hsm_url, "key.rotate") == 0.0
    # when: two more callers
    with pytest.raises(HsmPaced) as first:
        quick.acquire(hsm_url, "key.rotate")
    with pytest.raises(HsmPaced) as second:
        quick.acquire(hsm_url, "key.update")
    # then: come back when the window frees, the next one a token's spacing (10 s / 2) later
    assert 9.5 <= first.value.retry_after <= 10.0
    assert 4.9 <= second.value.retry_after - first.value.retry_after <= 5.1
    assert (first.value.code, first.value.operation) == ("Paced", "key.rotate")
    assert first.value.message.startswith("Paced to the HSM's service limits: no key_manage token")


def test_classes_and_hsms_have_windows_of_their_own(hsm_url):
    # given: the key_manage window of this HSM is full
    quick = pacer(limits={**LIMITS, "key_manage": 1, "key_create": 1}, max_wait=0.5)
    quick.acquire(hsm_url, "key.rotate")
    with pytest.raises(HsmPaced):
        quick.acquire(hsm_url, "key.rotate")
    # when / then: a create, another HSM's rotation and an unclassified call still pass
    assert quick.acquire(hsm_url, "key.create") == 0.0
    assert quick.acquire(hsm_url + "/other", "key.rotate") == 0.0
    assert quick.acquire(hsm_url, "not.an.hsm.operation") == 0.0


def test_admission_takes_a_place_per_scarce_class_of_a_plan_apart_from_the_calls(hsm_url):
    # given: 1 key operation per 10 s
    quick = pacer(limits={**LIMITS, "key_manage": 1}, max_wait=0.5)
    # when: a rotation's plan (a read, then the rotation) is admitted; a second is not
    assert quick.admit(hsm_url, ["get_key", "rotate_key"]) == 0.0
    with pytest.raises(HsmPaced) as paced:
        quick.admit(hsm_url, ["get_key", "rotate_key"])
    # then: reads are not gated, and the calls' own window is still free
    assert 9.5 <= paced.value.retry_after <= 10.0
    assert paced.value.operation == "admit.key_manage"
    assert quick.admit(hsm_url, ["get_key"]) == 0.0
    assert quick.acquire(hsm_url, "key.rotate") == 0.0


def test_a_429_holds_the_class_for_every_caller(hsm_url):
    # given
    quick = pacer(max_wait=0.5)
    # when: the HSM said Retry-After 3
    quick.hold(hsm_url, "key.rotate", 3)
    # then
    with pytest.raises(HsmPaced) as paced:
        quick.acquire(hsm_url, "key.backup")
    assert 2.8 <= paced.value.retry_after <= 3.0
    assert quick.acquire(hsm_url, "key.get") == 0.0


def test_a_short_wait_is_slept_in_process(hsm_url):
    quick = pacer(limits={**LIMITS, "key_manage": 1}, window=0.6, max_wait=1.0)
    quick.acquire(hsm_url, "key.rotate")
    started = time.monotonic()

    waited = quick.acquire(hsm_url, "key.rotate")

    assert 0.5 <= waited <= 0.6
    assert time.monotonic() - started >= waited


def test_without_redis_calls_pass_unpaced_and_say_so(hsm_url, caplog):
    unreachable = Pacer.from_url("redis://127.0.0.1:1/0", limits=LIMITS, window=10, max_wait=1)

    with caplog.at_level(logging.WARNING, logger="keys.gateway.pacing"):
        waited = unreachable.acquire(hsm_url, "key.rotate")

    assert waited == 0.0
    assert [record.message for record in caplog.records] == ["pacing.unavailable"]


@pytest.mark.parametrize(
    ("_case", "options", "message"),
    [
        ("a class without a limit", {"limits": {"key_create": 1}}, "service limits missing"),
        ("a zero limit", {"limits": {**LIMITS, "rbac": 0}}, "must be positive"),
        ("a zero window", {"window": 0}, "must be positive"),
    ],
)
def test_bad_limits_are_refused(_case, options, message):
    with pytest.raises(ValueError, match=message):
        pacer(**options)


def test_the_gateway_takes_a_token_before_each_try_against_the_enforcing_emulator(hsm, hsm_url):
    # given: the emulator allows 3 rotations per 2 s; the gateway's pacing counts the same
    hsm.process.set_service_limits(enabled=True, window_seconds=2, limits={"key_manage": 3})
    try:
        hsm.operator.create_key("pay-paced", kty="EC-HSM", curve="P-256")
        gateway = HsmGateway(
            url=hsm.process.url,
            credential=build_credential(settings.HSM_PRINCIPAL_ID),
            ca_file=hsm.process.ca_path,
            verify_challenge_resource=False,
            retry=RetryPolicy(max_retry_after=0),
            pacer=pacer(window=2.0, margin=0.1, limits={**LIMITS, "key_manage": 3}),
        )
        gateway._pacer.forget(hsm.process.url)
        seq = hsm.process.latest_seq()
        # when: 7 rotations in a row
        started = time.monotonic()
        for _ in range(7):
            gateway.rotate_key("pay-paced")
        elapsed = time.monotonic() - started
        # then: no 429, spread over the windows the limit needs
        statuses = [r["status"] for r in hsm.calls_since(seq)]
        assert statuses == [200] * 7
        assert hsm.process.service_limits()["throttled"] == 0
        assert elapsed >= 2 * 2.0
    finally:
        hsm.process.set_service_limits(enabled=False)


PRINT_PACING = (
    "from django.conf import settings as s; "
    "print(repr(s.HSM_PACING_REDIS_URL), s.HSM_SERVICE_LIMITS, s.HSM_SERVICE_LIMIT_WINDOW_SECONDS)"
)


@pytest.mark.parametrize(
    ("_case", "env", "expected"),
    [
        (
            "a real HSM: the broker's Redis, the published limits",
            {"HSM_CREDENTIAL": "azure"},
            "'redis://redis.example.com:6379/0' {'key_create': 10, 'key_manage': 100, "
            "'key_read': 11000, 'rbac': 50, 'full_backup': 10} 10.0",
        ),
        (
            "the emulator: no pacing unless asked",
            {"HSM_CREDENTIAL": "emulator"},
            "'' {'key_create': 10, 'key_manage': 100, 'key_read': 11000, 'rbac': 50, "
            "'full_backup': 10} 10.0",
        ),
        (
            "overridden from the environment",
            {
                "HSM_CREDENTIAL": "emulator",
                "HSM_PACING_REDIS_URL": "redis://pacing:6379/2",
                "HSM_SERVICE_LIMITS": "key_manage=40,rbac=5",
                "HSM_SERVICE_LIMIT_WINDOW_SECONDS": "1",
            },
            "'redis://pacing:6379/2' {'key_create': 10, 'key_manage': 40, 'key_read': 11000, "
            "'rbac': 5, 'full_backup': 10} 1.0",
        ),
    ],
)
def test_pacing_settings(_case, env, expected):
    result = run_shell(PRINT_PACING, env)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


@pytest.mark.parametrize(
    ("_case", "env", "message"),
    [
        (
            "an unknown class",
            {"HSM_SERVICE_LIMITS": "key_rotate=5"},
            "HSM_SERVICE_LIMITS entries look like class=N (N >= 1) with a class of key_create, "
            "key_manage, key_read, rbac, full_backup; got key_rotate=5",
        ),
        ("a zero limit", {"HSM_SERVICE_LIMITS": "rbac=0"}, "got rbac=0"),
        (
            "not a number",
            {"HSM_PACING_MAX_WAIT_SECONDS": "soon"},
            "HSM_PACING_MAX_WAIT_SECONDS must be a number, got 'soon'",
        ),
        (
            "a zero window",
            {"HSM_SERVICE_LIMIT_WINDOW_SECONDS": "0"},
            "HSM_SERVICE_LIMIT_WINDOW_SECONDS must be positive",
        ),
    ],
)
def test_bad_pacing_settings_refuse_to_start(_case, env, message):
    result = run_shell(PRINT_PACING, env)

    assert result.returncode != 0
    assert message in result.stderr


def run_shell(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    base = {
        "PATH": "/usr/bin:/bin",
        "KEYWARDEN_DATA_DIR": "/tmp/keywarden-settings-test",
        "DEBUG": "true",
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "CELERY_BROKER_URL": "redis://redis.example.com:6379/0",
    }
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
