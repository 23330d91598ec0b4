"""`/_emulator/recovery`: purge protection and retention set at run time (what ARM sets on a
real HSM), reported on keys, and back to the command line's values after a reset."""

from __future__ import annotations

import pytest
import requests
from emulator_helpers import USER

from hsm_emulator.client.testing import EmulatorProcess, make_clients


@pytest.fixture
def recovery(hsm):
    yield hsm
    hsm.set_recovery(purge_protection=False, retention_days=90)


def test_keys_report_the_recovery_set_at_run_time(recovery):
    user = make_clients(recovery.url, recovery.ca_path, USER)

    answer = recovery.set_recovery(purge_protection=True, retention_days=14)
    key = user.keys.create_ec_key("recovery-reported")

    assert answer == {
        "purge_protection": True,
        "retention_days": 14,
        "recovery_level": "CustomizedRecoverable",
    }
    assert (key.properties.recovery_level, key.properties.recoverable_days) == (
        "CustomizedRecoverable",
        14,
    )


def test_purge_protection_off_reports_purgeable(recovery):
    user = make_clients(recovery.url, recovery.ca_path, USER)

    recovery.set_recovery(purge_protection=False, retention_days=90)
    key = user.keys.create_ec_key("recovery-purgeable")

    assert key.properties.recovery_level == "Recoverable+Purgeable"
    assert key.properties.recoverable_days == 90


@pytest.mark.parametrize(
    ("_case", "body", "message"),
    [
        ("retention too short", {"retention_days": 6}, "'retention_days' must be 7-90."),
        ("retention not a number", {"retention_days": "30"}, "whole number of days"),
        ("protection not a boolean", {"purge_protection": "yes"}, "must be true or false"),
        ("unknown field", {"soft_delete": False}, "The body must be"),
    ],
)
def test_bad_recovery_bodies_are_refused_and_change_nothing(recovery, _case, body, message):
    before = recovery._control("GET", "recovery")

    response = requests.put(
        f"{recovery.url}/_emulator/recovery", json=body, verify=recovery.ca_path, timeout=10
    )

    assert response.status_code == 400
    assert message in response.json()["error"]["message"]
    assert recovery._control("GET", "recovery") == before


def test_a_reset_returns_to_the_command_lines_recovery(tmp_path):
    with EmulatorProcess(tmp_path / "hsm", purge_protection=True, retention_days=30) as process:
        process.set_recovery(purge_protection=False, retention_days=7)

        process.reset()

        assert process._control("GET", "recovery") == {
            "purge_protection": True,
            "retention_days": 30,
            "recovery_level": "CustomizedRecoverable",
        }
