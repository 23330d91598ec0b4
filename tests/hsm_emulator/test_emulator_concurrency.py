"""Concurrent clients are served in parallel and the state stays consistent."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from emulator_helpers import USER

from hsm_emulator.client.testing import make_clients


def test_sixteen_concurrent_rotations_make_sixteen_distinct_versions(hsm, user, key_name):
    original = user.keys.create_ec_key(key_name)
    clients = [make_clients(hsm.url, hsm.ca_path, USER).keys for _ in range(16)]

    with ThreadPoolExecutor(max_workers=16) as pool:
        rotated = list(pool.map(lambda client: client.rotate_key(key_name), clients))

    new_versions = {key.properties.version for key in rotated}
    listed = [v.version for v in user.keys.list_properties_of_key_versions(key_name)]
    assert len(new_versions) == 16
    assert original.properties.version not in new_versions
    assert sorted(listed) == sorted({original.properties.version, *new_versions})


def test_concurrent_creates_of_distinct_keys_all_succeed(hsm, user, key_name):
    names = [f"{key_name}-{index}" for index in range(12)]
    clients = [make_clients(hsm.url, hsm.ca_path, USER).keys for _ in names]

    with ThreadPoolExecutor(max_workers=12) as pool:
        created = list(pool.map(lambda client, name: client.create_ec_key(name), clients, names))

    assert [key.name for key in created] == names
    assert {item.name for item in user.keys.list_properties_of_keys()} >= set(names)
