"""An emulator started with --purge-protection and a 7-day retention."""

from __future__ import annotations

import datetime

import pytest
from azure.core.exceptions import HttpResponseError
from emulator_helpers import OFFICER, USER, error_code, grant_test_roles, inner_code

from hsm_emulator.client.testing import EmulatorProcess, make_clients


@pytest.fixture(scope="module")
def protected(tmp_path_factory):
    directory = tmp_path_factory.mktemp("protected-hsm")
    with EmulatorProcess(directory, purge_protection=True, retention_days=7) as process:
        grant_test_roles(process)
        yield process


def test_keys_report_customized_recoverable_without_purgeable(protected):
    user = make_clients(protected.url, protected.ca_path, USER)

    key = user.keys.create_ec_key("reported")

    assert key.properties.recovery_level == "CustomizedRecoverable"
    assert key.properties.recoverable_days == 7


def test_purge_is_refused_until_the_retention_has_passed(protected):
    user = make_clients(protected.url, protected.ca_path, USER)
    officer = make_clients(protected.url, protected.ca_path, OFFICER)
    user.keys.create_ec_key("protected-key")
    deleted = user.keys.begin_delete_key("protected-key", _polling_interval=0).result()

    with pytest.raises(HttpResponseError) as raised:
        officer.keys.purge_deleted_key("protected-key")

    assert (raised.value.status_code, error_code(raised.value)) == (403, "Forbidden")
    assert inner_code(raised.value) == "PurgeProtectionEnabled"
    assert deleted.scheduled_purge_date - deleted.deleted_date == datetime.timedelta(days=7)
    assert officer.keys.get_deleted_key("protected-key").name == "protected-key"


def test_recover_still_works_under_purge_protection(protected):
    user = make_clients(protected.url, protected.ca_path, USER)
    officer = make_clients(protected.url, protected.ca_path, OFFICER)
    key = user.keys.create_ec_key("recoverable")
    user.keys.begin_delete_key("recoverable", _polling_interval=0).wait()

    recovered = officer.keys.begin_recover_deleted_key("recoverable", _polling_interval=0).result()

    assert recovered.id == key.id
