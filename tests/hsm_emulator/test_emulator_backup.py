"""Full-HSM backup/restore LROs (KeyVaultBackupClient) and settings, on a dedicated emulator
because a full restore replaces the whole HSM state. Its jobs finish at once (``job_seconds=0``);
the tests of jobs that stay in progress, as the service's do, use one of their own."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.keyvault.administration import KeyVaultSetting
from emulator_helpers import ADMIN, USER, error_code, grant_test_roles

from hsm_emulator.client.testing import EmulatorProcess, make_clients

CONTAINER = "https://account.blob.core.windows.net/backups"
SAS = "sv=2024-01-01&sig=test"


@pytest.fixture(scope="module")
def backup_hsm(tmp_path_factory):
    directory = tmp_path_factory.mktemp("backup-hsm")
    with EmulatorProcess(directory, extra_args=["--hsm-name", "testhsm"], job_seconds=0) as process:
        grant_test_roles(process)
        yield process


@pytest.fixture(scope="module")
def hsm_admin(backup_hsm):
    return make_clients(backup_hsm.url, backup_hsm.ca_path, ADMIN)


@pytest.fixture(scope="module")
def hsm_user(backup_hsm):
    return make_clients(backup_hsm.url, backup_hsm.ca_path, USER)


def _backup(admin) -> str:
    return (
        admin.backup.begin_backup(CONTAINER, sas_token=SAS, _polling_interval=0).result().folder_url
    )


def _versions(user, name):
    return [v.version for v in user.keys.list_properties_of_key_versions(name)]


def test_full_backup_stores_a_folder_named_like_the_service(backup_hsm, hsm_admin):
    folder_url = _backup(hsm_admin)

    folder = folder_url.rsplit("/", 1)[1]
    assert re.fullmatch(rf"{CONTAINER}/mhsm-testhsm-\d{{16}}", folder_url)
    assert (Path(backup_hsm.ca_path).parent / "backups" / folder / "hsm.sqlite3").is_file()


def test_backup_status_is_polled_without_api_version(backup_hsm, hsm_admin):
    seq = backup_hsm.latest_seq()

    _backup(hsm_admin)

    paths = [entry["path"] for entry in backup_hsm.requests_since(seq)]
    assert paths[0] == "/backup"
    assert re.fullmatch(r"/backup/[0-9a-f]{32}/pending", paths[-1])


def test_full_restore_returns_the_hsm_to_the_backup(hsm_admin, hsm_user, key_name):
    hsm_user.keys.create_ec_key(key_name)
    hsm_user.keys.rotate_key(key_name)
    before = _versions(hsm_user, key_name)
    folder_url = _backup(hsm_admin)
    hsm_user.keys.begin_delete_key(key_name, _polling_interval=0).wait()
    hsm_user.keys.create_ec_key(f"{key_name}-after")

    hsm_admin.backup.begin_restore(folder_url, sas_token=SAS, _polling_interval=0).wait()

    assert _versions(hsm_user, key_name) == before
    with pytest.raises(ResourceNotFoundError):
        hsm_user.keys.get_key(f"{key_name}-after")


def test_selective_restore_brings_back_one_key_as_backed_up(hsm_admin, hsm_user, key_name):
    first = hsm_user.keys.create_ec_key(key_name)
    other = hsm_user.keys.create_ec_key(f"{key_name}-other")
    folder_url = _backup(hsm_admin)
    hsm_user.keys.rotate_key(key_name)
    hsm_user.keys.rotate_key(other.name)

    hsm_admin.backup.begin_restore(
        folder_url, sas_token=SAS, key_name=key_name, _polling_interval=0
    ).wait()

    assert _versions(hsm_user, key_name) == [first.properties.version]
    assert len(_versions(hsm_user, other.name)) == 2


def test_restore_of_a_missing_folder_fails_the_operation(hsm_admin):
    poller = hsm_admin.backup.begin_restore(
        f"{CONTAINER}/mhsm-testhsm-0000000000000000", sas_token=SAS, _polling_interval=0
    )

    with pytest.raises(HttpResponseError) as raised:
        poller.result()

    assert "FolderNotFound" in raised.value.message


def test_backup_with_managed_identity_and_pre_checks(hsm_admin):
    folder_url = (
        hsm_admin.backup.begin_backup(CONTAINER, use_managed_identity=True, _polling_interval=0)
        .result()
        .folder_url
    )

    hsm_admin.backup.begin_pre_backup(CONTAINER, sas_token=SAS, _polling_interval=0).wait()
    hsm_admin.backup.begin_pre_restore(folder_url, sas_token=SAS, _polling_interval=0).wait()

    assert folder_url.startswith(f"{CONTAINER}/mhsm-testhsm-")


def test_crypto_user_may_not_start_a_full_backup(hsm_user):
    with pytest.raises(HttpResponseError) as raised:
        hsm_user.backup.begin_backup(CONTAINER, sas_token=SAS, _polling_interval=0)

    assert (raised.value.status_code, error_code(raised.value)) == (403, "AccessDenied")


def test_settings_list_get_and_update(hsm_admin):
    name = "AllowKeyManagementOperationsThroughARM"

    listed = [(s.name, s.value) for s in hsm_admin.settings.list_settings()]
    updated = hsm_admin.settings.update_setting(KeyVaultSetting(name=name, value=True))
    fetched = hsm_admin.settings.get_setting(name)

    assert listed == [(name, "false")]
    assert (updated.value, fetched.getboolean(), fetched.setting_type) == ("true", True, "boolean")


def test_unknown_setting_is_not_found(hsm_admin):
    with pytest.raises(ResourceNotFoundError):
        hsm_admin.settings.get_setting("NoSuchSetting")


@pytest.fixture(scope="module")
def slow_hsm(tmp_path_factory):
    """Jobs stay InProgress for 3 seconds, like the service's."""
    with EmulatorProcess(tmp_path_factory.mktemp("slow-jobs"), job_seconds=3) as process:
        grant_test_roles(process)
        yield process


@pytest.fixture(scope="module")
def slow_admin(slow_hsm):
    return make_clients(slow_hsm.url, slow_hsm.ca_path, ADMIN)


def test_a_resumed_backup_poller_sees_the_job_in_progress_then_done(slow_hsm, slow_admin):
    # given
    started = slow_admin.backup.begin_backup(CONTAINER, sas_token=SAS, _polling_interval=0.2)
    token = started.continuation_token()
    # when
    resumed = make_clients(slow_hsm.url, slow_hsm.ca_path, ADMIN).backup.begin_backup(
        CONTAINER, sas_token=SAS, continuation_token=token, _polling_interval=0.2
    )
    statuses = [resumed.status()]
    resumed.wait(0.5)
    statuses.append(resumed.status())
    result = resumed.result()
    # then
    assert statuses == ["InProgress", "InProgress"]
    assert resumed.done() is True
    assert resumed.status() == "Succeeded"
    assert re.fullmatch(rf"{CONTAINER}/mhsm-emulator-\d{{16}}", result.folder_url)
    assert started.result().folder_url == result.folder_url


def test_a_second_job_while_one_is_in_progress_conflicts_then_runs(slow_hsm, slow_admin):
    # given
    first = slow_admin.backup.begin_backup(CONTAINER, sas_token=SAS, _polling_interval=0.2)
    # when
    with pytest.raises(HttpResponseError) as raised:
        slow_admin.backup.begin_backup(CONTAINER, sas_token=SAS, _polling_interval=0.2)
    first.result()
    second = slow_admin.backup.begin_pre_backup(CONTAINER, sas_token=SAS, _polling_interval=0.2)
    # then
    assert (raised.value.status_code, error_code(raised.value)) == (409, "Conflict")
    assert second.result() is None
    assert slow_hsm.stats()["running_job"] is None


def test_a_job_that_fails_frees_the_runner(backup_hsm, hsm_admin):
    # given: the backups "container" cannot be written (a file where the folder must go)
    backups = Path(backup_hsm.ca_path).parent / "backups"
    moved = backups.with_name("backups-aside")
    backups.rename(moved)
    backups.write_text("not a folder")
    # when
    try:
        with pytest.raises(HttpResponseError) as raised:
            _backup(hsm_admin)
    finally:
        backups.unlink()
        moved.rename(backups)
    # then
    assert raised.value.message.startswith("(InternalServerError)")
    assert backup_hsm.stats()["running_job"] is None
    assert _backup(hsm_admin).startswith(f"{CONTAINER}/mhsm-testhsm-")


def test_a_job_a_restart_interrupted_reads_failed(tmp_path):
    # given: a backup in progress when the emulator is killed
    with EmulatorProcess(tmp_path / "restarted", job_seconds=60) as process:
        admin = make_clients(process.url, process.ca_path, ADMIN)
        poller = admin.backup.begin_backup(CONTAINER, sas_token=SAS, _polling_interval=0.2)
        process.kill()
        # when
        process.start()
        with pytest.raises(HttpResponseError) as raised:
            poller.result()
        running = process.stats()["running_job"]
        again = admin.backup.begin_pre_backup(CONTAINER, sas_token=SAS, _polling_interval=0.2)
        # then
        assert "The emulator restarted while the job was in progress." in raised.value.message
        assert running is None
        assert again.status() == "InProgress"
