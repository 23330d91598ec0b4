"""16 concurrent clients mix rotate, update, sign, delete + purge, full backups and full and
selective restores for a few seconds on an emulator of their own (a full restore replaces the
whole HSM). Afterwards: no update lost on a rotated version, no purged key material left in the
unsealed-key cache, the job runner free and working, the connection pool within its bound, and
no answer but the ones the races allow (404 for a key a restore or purge took away, 409 for a job
already running or a name still soft-deleted)."""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections.abc import Callable

import pytest
from azure.core.exceptions import HttpResponseError
from azure.keyvault.keys.crypto import SignatureAlgorithm
from emulator_helpers import ADMIN, OFFICER, USER, grant_test_roles

from hsm_emulator.client.testing import EmulatorProcess, make_clients

CONTAINER = "https://account.blob.core.windows.net/stress"
SAS = "sv=2024-01-01&sig=stress"
STORM_SECONDS = 4.0
ALLOWED_STATUSES = {404, 409}
ROTATED = ("stress-rsa-0", "stress-rsa-1")
SELECTIVE = "stress-selective"


@pytest.fixture(scope="module")
def stress_hsm(tmp_path_factory):
    with EmulatorProcess(
        tmp_path_factory.mktemp("stress-hsm"),
        job_seconds=0.2,
        extra_args=["--rotation-tick", "3600"],
    ) as process:
        grant_test_roles(process)
        yield process


class Storm:
    """Runs workers until the deadline and keeps every answer the races do not allow."""

    def __init__(self) -> None:
        self.deadline = time.monotonic() + STORM_SECONDS
        self.unexpected: list[str] = []
        self.counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def loop(self, label: str, step: Callable[[], None]) -> None:
        while time.monotonic() < self.deadline:
            try:
                step()
                outcome = "ok"
            except HttpResponseError as error:
                outcome = str(error.status_code)
                if error.status_code not in ALLOWED_STATUSES:
                    self._keep(f"{label}: {error.status_code} {error.message}")
            except Exception as error:  # every surprise is reported, not raised
                outcome = "exception"
                self._keep(f"{label}: {error!r}")
            with self._lock:
                key = f"{label} {outcome}"
                self.counts[key] = self.counts.get(key, 0) + 1

    def _keep(self, text: str) -> None:
        with self._lock:
            self.unexpected.append(text)


def _clients(hsm, principal):
    return make_clients(hsm.url, hsm.ca_path, principal)


def _backup(admin) -> str:
    poller = admin.backup.begin_backup(CONTAINER, sas_token=SAS, _polling_interval=0.05)
    return poller.result().folder_url


def _workers(hsm, storm: Storm, folder_url: str) -> list[threading.Thread]:
    updates = {name: itertools.count(1) for name in ROTATED}
    purge_names: list[str] = []

    def rotate(name: str) -> Callable[[], None]:
        keys = _clients(hsm, USER).keys
        return lambda: keys.rotate_key(name)

    def update(name: str) -> Callable[[], None]:
        keys = _clients(hsm, USER).keys

        def step() -> None:
            keys.update_key_properties(name, tags={"n": f"{next(updates[name]):06d}"})

        return step

    def purge_cycle() -> Callable[[], None]:
        user, officer = _clients(hsm, USER), _clients(hsm, OFFICER)

        def step() -> None:
            name = f"stress-purge-{uuid.uuid4().hex[:12]}"
            key = user.keys.create_ec_key(name)
            purge_names.append(name)
            user.crypto(key.id).sign(SignatureAlgorithm.es256, bytes(32))
            user.keys.begin_delete_key(name, _polling_interval=0).wait()
            officer.keys.purge_deleted_key(name)

        return step

    def sign() -> Callable[[], None]:
        user = _clients(hsm, USER)

        def step() -> None:
            if not purge_names:
                time.sleep(0.05)
                return
            user.crypto(user.keys.get_key(purge_names[-1]).id).sign(
                SignatureAlgorithm.es256, bytes(32)
            )

        return step

    def backup() -> Callable[[], None]:
        admin = _clients(hsm, ADMIN)
        return lambda: _backup(admin)

    def full_restore() -> Callable[[], None]:
        admin = _clients(hsm, ADMIN)

        def step() -> None:
            admin.backup.begin_restore(folder_url, sas_token=SAS, _polling_interval=0.05).wait()
            time.sleep(0.5)

        return step

    def selective_restore() -> Callable[[], None]:
        admin = _clients(hsm, ADMIN)

        def step() -> None:
            admin.backup.begin_restore(
                folder_url, sas_token=SAS, key_name=SELECTIVE, _polling_interval=0.05
            ).wait()

        return step

    plan = [
        *(("rotate", rotate(name)) for name in ROTATED for _ in range(2)),
        *(("update", update(name)) for name in ROTATED),
        *(("purge", purge_cycle()) for _ in range(3)),
        *(("sign", sign()) for _ in range(3)),
        *(("backup", backup()) for _ in range(2)),
        ("full-restore", full_restore()),
        ("selective-restore", selective_restore()),
    ]
    assert len(plan) == 16
    return [
        threading.Thread(target=storm.loop, args=(label, step), name=label) for label, step in plan
    ]


def test_sixteen_clients_mixing_writes_jobs_and_purges_leave_a_consistent_hsm(stress_hsm):
    # given: two RSA keys to rotate and update, a key for selective restores, a full backup
    user, admin = _clients(stress_hsm, USER), _clients(stress_hsm, ADMIN)
    for name in ROTATED:
        user.keys.create_rsa_key(name, size=2048, tags={"n": "000000"})
    user.keys.create_ec_key(SELECTIVE)
    folder_url = _backup(admin)
    storm = Storm()
    workers = _workers(stress_hsm, storm, folder_url)
    # when
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=STORM_SECONDS + 60)
    # then
    stats = stress_hsm.stats()
    tags_by_version = {
        name: [v.tags["n"] for v in user.keys.list_properties_of_key_versions(name)]
        for name in ROTATED
    }
    assert [worker.name for worker in workers if worker.is_alive()] == []
    assert storm.unexpected == []
    assert {name: tags == sorted(tags) for name, tags in tags_by_version.items()} == {
        name: True for name in ROTATED
    }
    assert stats["cached_key_versions_not_stored"] == []
    assert stats["running_job"] is None
    assert stats["db_connections"] <= stats["db_max_connections"]
    assert _backup(admin).startswith(f"{CONTAINER}/mhsm-emulator-")
    assert {label.split()[0] for label in storm.counts if label.endswith(" ok")} == {
        "rotate",
        "update",
        "purge",
        "sign",
        "backup",
        "full-restore",
        "selective-restore",
    }
