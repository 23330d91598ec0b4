"""The service-limits mode (``--enforce-service-limits``, ``PUT /_emulator/limits``): the
published per-window limits by operation class and key type, as exact 429 + Retry-After."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
import requests
from azure.core.exceptions import HttpResponseError
from emulator_helpers import USER, error_code

from hsm_emulator.client.testing import EmulatorProcess, make_clients
from hsm_emulator.errors import ApiError
from hsm_emulator.limits import DEFAULT_LIMITS, ServiceLimits, key_type


@pytest.fixture(autouse=True)
def limits_off_afterwards(hsm):
    yield
    hsm.set_service_limits(enabled=False)


@pytest.fixture
def no_retries(hsm):
    return make_clients(hsm.url, hsm.ca_path, USER, retry_total=0)


def _statuses(hsm, seq):
    return [entry["status"] for entry in hsm.requests_since(seq) if entry["principal"]]


def test_beyond_the_limit_the_service_answers_429_throttled_with_retry_after(
    hsm, no_retries, key_name
):
    hsm.set_service_limits(enabled=True, window_seconds=5, limits={"key_manage": 2})
    no_retries.keys.create_ec_key(key_name)
    no_retries.keys.rotate_key(key_name)
    no_retries.keys.rotate_key(key_name)
    seq = hsm.latest_seq()

    with pytest.raises(HttpResponseError) as raised:
        no_retries.keys.rotate_key(key_name)

    assert (raised.value.status_code, error_code(raised.value)) == (429, "Throttled")
    assert raised.value.response.headers["Retry-After"] in {"4", "5"}
    assert raised.value.response.json()["error"]["message"].startswith(
        "Request was not processed because too many requests were received for operation "
        "class key_manage (2 per 5 seconds)."
    )
    assert _statuses(hsm, seq) == [429]
    versions = list(no_retries.keys.list_properties_of_key_versions(key_name))
    assert len(versions) == 3  # the refused rotation made no version
    assert hsm.service_limits()["throttled"] == 1


def test_classes_are_counted_apart_so_creates_pass_while_rotations_are_throttled(
    hsm, no_retries, key_name
):
    hsm.set_service_limits(enabled=True, window_seconds=30, limits={"key_manage": 1})
    no_retries.keys.create_ec_key(key_name)
    no_retries.keys.rotate_key(key_name)
    with pytest.raises(HttpResponseError):
        no_retries.keys.rotate_key(key_name)

    created = no_retries.keys.create_ec_key(key_name + "-b")
    read = no_retries.keys.get_key(key_name)

    assert created.name == key_name + "-b"
    assert read.name == key_name


def test_a_freed_window_admits_again(hsm, no_retries, key_name):
    hsm.set_service_limits(enabled=True, window_seconds=1, limits={"key_create": 1})
    no_retries.keys.create_ec_key(key_name)
    with pytest.raises(HttpResponseError) as raised:
        no_retries.keys.create_ec_key(key_name + "-b")
    assert raised.value.response.headers["Retry-After"] == "1"

    time.sleep(1.05)

    assert no_retries.keys.create_ec_key(key_name + "-b").name == key_name + "-b"


def test_key_type_limits_apply_to_keys_of_that_type_only(hsm, no_retries, key_name):
    hsm.set_service_limits(
        enabled=True, window_seconds=30, limits={"key_create": 100, "key_create:RSA-4096": 1}
    )
    no_retries.keys.create_rsa_key(key_name, size=4096)
    with pytest.raises(HttpResponseError) as raised:
        no_retries.keys.create_rsa_key(key_name + "-b", size=4096)

    assert raised.value.status_code == 429
    assert no_retries.keys.create_rsa_key(key_name + "-c", size=2048).key.n


def test_off_by_default_and_published_defaults_when_switched_on(hsm):
    assert hsm.service_limits()["enabled"] is False

    document = hsm.set_service_limits(enabled=True)

    assert document["window_seconds"] == 10.0
    assert document["limits"]["key_create"] == 10
    assert document["limits"]["key_manage"] == 100
    assert document["limits"]["rbac"] == 50
    assert document["limits"]["crypto:EC-P-256"] == 2600


@pytest.mark.parametrize(
    ("_case", "body", "message"),
    [
        ("unknown class", {"enabled": True, "limits": {"nope": 1}}, "Unknown limit class"),
        ("zero limit", {"enabled": True, "limits": {"key_create": 0}}, "positive integer"),
        ("bad window", {"enabled": True, "window_seconds": 0}, "window_seconds"),
        ("no enabled", {"limits": {}}, "The body must be"),
    ],
)
def test_bad_limit_settings_are_refused_and_change_nothing(hsm, _case, body, message):
    before = hsm.service_limits()

    response = requests.put(
        f"{hsm.url}/_emulator/limits", json=body, verify=hsm.ca_path, timeout=10
    )

    assert response.status_code == 400
    assert message in response.json()["error"]["message"]
    assert hsm.service_limits() == before


def test_the_command_line_flag_enforces_the_limits(tmp_path):
    with EmulatorProcess(
        tmp_path / "hsm",
        extra_args=["--enforce-service-limits", "--service-limit", "key_create=3"],
    ) as process:
        document = process.service_limits()

    assert document["enabled"] is True
    assert document["limits"]["key_create"] == 3
    assert document["limits"]["key_manage"] == DEFAULT_LIMITS["key_manage"]


def test_a_malformed_limit_flag_is_refused_at_start(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "hsm_emulator",
            "serve",
            "--data-dir",
            str(tmp_path),
            "--service-limit",
            "key_create",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert result.returncode == 2
    assert "a service limit looks like class=N, got 'key_create'" in result.stderr


def test_sliding_window_admits_exactly_the_limit_in_any_window():
    now = [100.0]
    limits = ServiceLimits(clock=lambda: now[0])
    limits.configure(enabled=True, window=10, limits={"key_manage": 3})
    admitted = []
    for step in range(60):  # one request every 0.5 s for 30 s
        now[0] = 100.0 + step * 0.5
        try:
            limits.admit("keys/rotate/action")
            admitted.append(now[0])
        except ApiError as error:
            assert error.status == 429
    assert admitted == [100.0, 100.5, 101.0, 110.0, 110.5, 111.0, 120.0, 120.5, 121.0]


@pytest.mark.parametrize(
    ("kty", "size", "crv", "expected"),
    [
        ("RSA-HSM", 3072, None, "RSA-3072"),
        ("RSA", None, None, "RSA-2048"),
        ("EC-HSM", None, "P-256K", "EC-P-256K"),
        ("oct-HSM", 128, None, "oct-128"),
        ("EC", None, None, ""),
    ],
)
def test_key_type_names(kty, size, crv, expected):
    assert key_type(kty, size, crv) == expected
