"""The emulator's clock offset: timestamps and the automatic-rotation tick run ahead of real time,
only forward, and the offset survives a restart."""

from __future__ import annotations

import datetime
import uuid

import pytest
import requests
from azure.keyvault.keys import KeyRotationLifetimeAction, KeyRotationPolicy
from emulator_helpers import USER, grant_test_roles

from hsm_emulator.client.testing import EmulatorProcess, make_clients
from hsm_emulator.clock import parse_offset
from hsm_emulator.errors import ApiError
from hsm_emulator.routes.control import handle_control

UTC = datetime.timezone.utc
DAY = 86400
THREE_YEARS = 1096 * DAY  # P3Y from the 2000-01-01 reference: 2000 is a leap year


@pytest.fixture
def aged(tmp_path):
    """A private emulator three years ahead (automatic rotation only when a test ticks)."""
    process = EmulatorProcess(
        tmp_path / "hsm", clock_offset="P3Y", extra_args=["--rotation-tick", "3600"]
    )
    with process:
        grant_test_roles(process)
        yield process


@pytest.fixture
def keys(aged):
    return make_clients(aged.url, aged.ca_path, USER).keys


@pytest.fixture
def key_name() -> str:
    return f"k-{uuid.uuid4().hex[:16]}"


def _close(moment: datetime.datetime, expected: datetime.datetime) -> bool:
    return abs((moment - expected).total_seconds()) <= 5


def test_new_keys_are_stamped_with_the_shifted_clock(aged, keys, key_name):
    key = keys.create_ec_key(key_name)

    shifted = datetime.datetime.now(UTC) + datetime.timedelta(seconds=THREE_YEARS)
    assert aged.clock()["offset_seconds"] == THREE_YEARS
    assert _close(key.properties.created_on, shifted)
    assert _close(key.properties.updated_on, shifted)


def test_rotation_policy_expiry_counts_from_the_shifted_clock(aged, keys, key_name):
    keys.create_ec_key(key_name)
    keys.update_key_rotation_policy(key_name, KeyRotationPolicy(expires_in="P30D"))

    rotated = keys.rotate_key(key_name)

    shifted = datetime.datetime.now(UTC) + datetime.timedelta(seconds=THREE_YEARS + 30 * DAY)
    assert _close(rotated.properties.expires_on, shifted)


def test_advancing_past_time_after_create_rotates_on_the_next_tick_once(aged, keys, key_name):
    original = keys.create_ec_key(key_name)
    policy = KeyRotationPolicy(
        lifetime_actions=[KeyRotationLifetimeAction("Rotate", time_after_create="P30D")]
    )
    keys.update_key_rotation_policy(key_name, policy)
    assert aged.rotation_tick() == []

    clock = aged.advance_clock("P31D")
    first, second = aged.rotation_tick(), aged.rotation_tick()

    versions = list(keys.list_properties_of_key_versions(key_name))
    latest = keys.get_key(key_name)
    assert clock["offset_seconds"] == THREE_YEARS + 31 * DAY
    assert (first, second) == ([key_name], [])
    assert len(versions) == 2
    assert latest.properties.version != original.properties.version
    assert _close(latest.properties.created_on, datetime.datetime.fromtimestamp(clock["now"], UTC))


def test_the_offset_survives_a_restart_and_a_smaller_flag(aged, keys, key_name):
    advanced = aged.advance_clock(datetime.timedelta(days=10))["offset_seconds"]

    aged.stop()
    aged.start()

    assert advanced == THREE_YEARS + 10 * DAY
    assert aged.clock()["offset_seconds"] == advanced  # the P3Y flag is only a minimum


def test_reset_keeps_the_offset(aged):
    aged.advance_clock(60)

    aged.reset()

    assert aged.clock()["offset_seconds"] == THREE_YEARS + 60


def test_an_unreadable_flag_stops_the_start(tmp_path):
    process = EmulatorProcess(tmp_path / "hsm", clock_offset="-P1D", startup_timeout=10)

    with pytest.raises(RuntimeError, match="the clock only moves forward"):
        process.start()


@pytest.mark.parametrize(
    ("_case", "body"),
    [
        ("offset-behind", {"offset_seconds": DAY}),
        ("negative-advance", {"advance": "-P1D"}),
        ("negative-seconds", {"advance": -5}),
        ("not-a-duration", {"advance": "soon"}),
        ("both-fields", {"advance": "P1D", "offset_seconds": THREE_YEARS + DAY}),
    ],
)
def test_backward_or_malformed_moves_are_refused(_case, body, aged):
    session = requests.Session()
    session.trust_env = False

    response = session.post(f"{aged.url}/_emulator/clock", json=body, verify=aged.ca_path)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "BadParameter"
    assert aged.clock()["offset_seconds"] == THREE_YEARS


def test_moving_behind_says_the_clock_only_moves_forward(aged):
    with pytest.raises(requests.HTTPError) as raised:
        aged.set_clock_offset(0)

    assert raised.value.response.status_code == 400
    assert "only moves forward" in raised.value.response.json()["error"]["message"]


def test_setting_the_offset_forward_is_allowed(aged):
    assert aged.set_clock_offset(THREE_YEARS + DAY)["offset_seconds"] == THREE_YEARS + DAY


@pytest.mark.parametrize(("method", "body"), [("GET", b""), ("POST", b'{"advance": "P1D"}')])
def test_the_clock_endpoint_answers_loopback_only(method, body):
    with pytest.raises(ApiError) as raised:
        handle_control(None, method, "/_emulator/clock", "", body, "10.1.2.3")

    assert raised.value.status == 403


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("P3Y", THREE_YEARS), ("P90D", 90 * DAY), ("PT1H", 3600), ("86400", DAY), (42, 42), (0, 0)],
)
def test_offsets_are_iso_durations_or_seconds(text, seconds):
    assert parse_offset(text) == seconds


@pytest.mark.parametrize("text", ["-P1D", "-5", "later", "", True, None])
def test_unreadable_or_negative_offsets_are_refused(text):
    with pytest.raises(ValueError):
        parse_offset(text)


# --- a new data dir started behind real time (the demo seed) --------------------------------------
def test_a_new_data_dir_starts_behind_and_stamps_keys_in_the_past(tmp_path, key_name):
    # given
    process = EmulatorProcess(
        tmp_path / "hsm", clock_start_behind="P3Y", extra_args=["--rotation-tick", "3600"]
    )
    with process:
        grant_test_roles(process)
        keys = make_clients(process.url, process.ca_path, USER).keys

        # when
        old = keys.create_ec_key(key_name)
        moved = process.advance_clock(THREE_YEARS - DAY)
        younger = keys.create_ec_key(f"{key_name}-y")

        # then
        real_now = datetime.datetime.now(UTC)
        assert _close(old.properties.created_on, real_now - datetime.timedelta(seconds=THREE_YEARS))
        assert _close(younger.properties.created_on, real_now - datetime.timedelta(days=1))
        assert moved["offset_seconds"] == -DAY
        assert process.set_clock_offset(0)["offset_seconds"] == 0


def test_a_clock_started_behind_stays_behind_across_a_restart_and_only_moves_forward(tmp_path):
    # given
    process = EmulatorProcess(tmp_path / "hsm", clock_start_behind=str(10 * DAY))
    with process:
        process.advance_clock(DAY)

        # when
        process.stop()
        process.start()

        # then
        assert process.clock()["offset_seconds"] == -9 * DAY
        with pytest.raises(requests.HTTPError):
            process.advance_clock(-DAY)


def test_a_used_data_dir_ignores_the_start_behind_flag(tmp_path):
    # given: a data dir that issued timestamps at real time (it has a store, no clock file)
    with EmulatorProcess(tmp_path / "hsm"):
        pass

    # when
    process = EmulatorProcess(tmp_path / "hsm", clock_start_behind="P3Y")
    with process:
        # then
        assert process.clock()["offset_seconds"] == 0
