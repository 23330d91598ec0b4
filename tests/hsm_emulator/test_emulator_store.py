"""The emulator's store and job runner in process, for what a client cannot time or cause: a
request that read a key just before it was purged, more borrowers than the connection pool holds,
a job whose start cannot be stored."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest

from hsm_emulator import crypto
from hsm_emulator.clock import Clock
from hsm_emulator.errors import ApiError
from hsm_emulator.jobs import JobRunner
from hsm_emulator.keyspec import KeyOptions, version_spec
from hsm_emulator.store import Store
from hsm_emulator.store.db import SCHEMA, Database

OPTIONS = KeyOptions(
    key_ops=["sign", "verify"],
    enabled=True,
    nbf=None,
    exp=None,
    exportable=False,
    tags={},
    release_policy=None,
)


@pytest.fixture
def store(tmp_path):
    opened = Store(tmp_path)
    yield opened
    opened.close()


def _ec_key(store, name):
    material = crypto.generate("EC", key_size=None, crv="P-256", public_exponent=None)
    return store.keys.add_version(name, version_spec(OPTIONS, material, origin="generated"), now=1)


def test_a_key_read_before_its_purge_never_puts_its_material_back_in_the_cache(store):
    # given: a request read the key (not yet loaded), then the key was deleted and purged
    read_before = _ec_key(store, "k-purged")
    store.keys.delete("k-purged", now=2, retention_days=7)
    store.keys.purge("k-purged", now=3, purge_protection=False)
    # when: the request goes on to use what it read
    signature = store.keys.loaded(read_before).sign("ES256", bytes(32))
    # then
    assert len(signature) == 64
    assert store.keys.cached_versions() == []
    assert store.keys.cached_versions_not_stored() == []


def test_a_stored_key_is_cached_once_loaded(store):
    key = _ec_key(store, "k-live")

    store.keys.loaded(key)

    assert store.keys.cached_versions() == [f"k-live/{key.version}"]


def test_the_pool_never_opens_more_connections_than_its_size(tmp_path):
    # given: two connections, both borrowed
    database = Database(tmp_path / "pool.sqlite3", max_connections=2, wait_seconds=5)
    holding, release = threading.Barrier(3), threading.Event()

    def hold() -> None:
        with database.read():
            holding.wait()
            release.wait()

    holders = [threading.Thread(target=hold) for _ in range(2)]
    for holder in holders:
        holder.start()
    holding.wait()
    waited = []
    # when: a third borrower comes while both are out, and one is given back later
    third = threading.Thread(target=lambda: waited.append(_borrow(database)))
    third.start()
    third.join(timeout=0.3)
    still_waiting = third.is_alive()
    release.set()
    third.join(timeout=5)
    for holder in holders:
        holder.join(timeout=5)
    # then
    assert still_waiting is True
    assert waited == [1]
    assert database.open_connections == 2
    database.close()


def _borrow(database: Database) -> int:
    with database.read() as conn:
        return conn.execute("SELECT 1").fetchone()[0]


def test_a_borrower_that_waits_too_long_gets_a_503(tmp_path):
    database = Database(tmp_path / "pool.sqlite3", max_connections=1, wait_seconds=0.1)

    with database.read(), pytest.raises(ApiError) as raised:
        _borrow(database)

    assert (raised.value.status, raised.value.code) == (503, "ServiceUnavailable")
    assert raised.value.headers == {"Retry-After": "1"}
    assert database.open_connections == 1
    database.close()


def _wait_for_status(runner: JobRunner, job_id: str) -> str:
    deadline = time.monotonic() + 5
    while runner.status(job_id, "backup")["status"] == "InProgress":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    return runner.status(job_id, "backup")["status"]


def test_a_job_whose_start_cannot_be_stored_frees_the_runner(store):
    # given: the jobs table is gone, so storing the InProgress document fails
    runner = JobRunner(store, Clock(), duration=0)
    with store.db.exclusive() as conn:
        conn.execute("DROP TABLE jobs")
    # when
    with pytest.raises(sqlite3.OperationalError):
        runner.start("backup", dict, extra={})
    running_after_failure = runner.running
    with store.db.exclusive() as conn:
        conn.executescript(SCHEMA)
    document = runner.start("backup", dict, extra={})
    # then
    assert running_after_failure is None
    assert _wait_for_status(runner, document["jobId"]) == "Succeeded"
    assert runner.running is None
