"""Fault injection through /_emulator/faults, observed with the official SDK's retry policy."""

from __future__ import annotations

import time

import pytest
import requests
from azure.core.exceptions import (
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.keyvault.keys._shared import http_challenge_cache as key_challenges
from emulator_helpers import USER, error_code

from hsm_emulator.client.testing import make_clients
from hsm_emulator.routes.control import is_loopback


@pytest.fixture(autouse=True)
def no_faults_left(hsm):
    yield
    hsm.clear_faults()


@pytest.fixture
def no_retries(hsm):
    """A Crypto User whose clients never retry, so every fault surfaces."""
    return make_clients(hsm.url, hsm.ca_path, USER, retry_total=0)


def _calls(hsm, seq, path):
    return [
        (entry["status"], entry["fault"])
        for entry in hsm.requests_since(seq)
        if entry["path"] == path and entry["principal"]
    ]


def test_throttle_without_retries_raises_throttled_and_changes_nothing(
    hsm, user, no_retries, key_name
):
    hsm.set_faults(
        [{"match": f"POST /keys/{key_name}/create", "status": 429, "retry_after": 0, "count": 1}]
    )
    seq = hsm.latest_seq()

    with pytest.raises(HttpResponseError) as raised:
        no_retries.keys.create_ec_key(key_name)

    assert (raised.value.status_code, error_code(raised.value)) == (429, "Throttled")
    assert raised.value.response.headers["Retry-After"] == "0"
    assert _calls(hsm, seq, f"/keys/{key_name}/create") == [(429, True)]
    with pytest.raises(ResourceNotFoundError):
        user.keys.get_key(key_name)


def test_count_limited_throttle_is_retried_by_the_sdk_until_success(hsm, user, key_name):
    hsm.set_faults(
        [{"match": f"/keys/{key_name}/create$", "status": 429, "retry_after": 0, "count": 2}]
    )
    seq = hsm.latest_seq()

    key = user.keys.create_ec_key(key_name)

    assert key.name == key_name
    assert _calls(hsm, seq, f"/keys/{key_name}/create") == [(429, True), (429, True), (200, False)]
    assert hsm.faults() == []


def test_retry_after_seconds_are_honoured(hsm, user, key_name):
    hsm.set_faults([{"match": "POST /rng", "status": 429, "retry_after": 1, "count": 1}])
    started = time.monotonic()

    user.keys.get_random_bytes(8)

    assert time.monotonic() - started >= 1.0


def test_unavailable_without_retries_is_service_unavailable(hsm, no_retries):
    hsm.set_faults([{"match": "POST /rng", "status": 503, "retry_after": 0, "count": 1}])

    with pytest.raises(HttpResponseError) as raised:
        no_retries.keys.get_random_bytes(8)

    assert (raised.value.status_code, error_code(raised.value)) == (503, "ServiceUnavailable")


def test_internal_error_carries_the_configured_code_and_no_retry_after(hsm, no_retries):
    hsm.set_faults(
        [{"match": "POST /rng", "status": 500, "code": "Boom", "message": "injected", "rate": 1}]
    )

    with pytest.raises(HttpResponseError) as raised:
        no_retries.keys.get_random_bytes(8)

    assert raised.value.status_code == 500
    assert raised.value.response.json()["error"] == {"code": "Boom", "message": "injected"}
    assert "Retry-After" not in raised.value.response.headers


def test_drop_closes_the_connection_without_a_response(hsm, no_retries, key_name):
    hsm.set_faults([{"match": f"POST /keys/{key_name}/create", "action": "drop", "count": 1}])
    seq = hsm.latest_seq()

    with pytest.raises((ServiceRequestError, ServiceResponseError)):
        no_retries.keys.create_ec_key(key_name)

    assert _calls(hsm, seq, f"/keys/{key_name}/create") == [(None, True)]
    assert no_retries.keys.create_ec_key(key_name).name == key_name


def test_delay_slows_the_request_down_but_lets_it_succeed(hsm, user, key_name):
    user.keys.create_ec_key(key_name)
    hsm.set_faults([{"match": f"GET /keys/{key_name}/", "action": "delay", "latency_ms": 300}])
    started = time.monotonic()

    fetched = user.keys.get_key(key_name)

    assert time.monotonic() - started >= 0.3
    assert fetched.name == key_name


def test_faults_endpoint_reports_remaining_counts(hsm, no_retries):
    hsm.set_faults([{"match": "POST /rng", "status": 429, "retry_after": 0, "count": 2}])

    with pytest.raises(HttpResponseError):
        no_retries.keys.get_random_bytes(1)

    assert [(rule["match"], rule["status"], rule["count"]) for rule in hsm.faults()] == [
        ("POST /rng", 429, 1)
    ]


def test_rate_zero_never_fires(hsm, no_retries):
    hsm.set_faults([{"match": ".*", "status": 503, "rate": 0}])

    assert len(no_retries.keys.get_random_bytes(3)) == 3


def test_faults_skip_the_unauthenticated_probe(hsm, user):
    key_challenges.clear()
    hsm.set_faults([{"match": "POST /rng", "status": 503, "retry_after": 0, "count": 1}])
    seq = hsm.latest_seq()

    user.keys.get_random_bytes(2)

    statuses = [(e["status"], e["fault"], e["principal"]) for e in hsm.requests_since(seq)]
    assert statuses == [(401, False, None), (503, True, USER), (200, False, USER)]


def test_invalid_fault_rules_are_refused(hsm):
    with pytest.raises(requests.HTTPError) as raised:
        hsm.set_faults([{"match": "(unclosed", "status": 503}])

    assert raised.value.response.status_code == 400


@pytest.mark.parametrize(
    ("peer", "allowed"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("10.0.0.5", False),
        ("192.168.1.20", False),
        ("::ffff:10.0.0.1", False),
        ("2001:db8::1", False),
        ("not-an-address", False),
    ],
)
def test_control_endpoints_answer_loopback_peers_only(peer, allowed):
    assert is_loopback(peer) is allowed
