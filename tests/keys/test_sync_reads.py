"""How many HSM calls an inventory sync makes, counted in the emulator's request log, and that
the fewer reads give the rows a complete read gives."""

import time
from collections import Counter

import pytest

from audit.context import AuditContext
from keys.gateway import LifetimeAction
from keys.models import KeyVersion, ManagedKey, RoleAssignmentMirror
from keys.services.sync import sync_inventory

CTX = AuditContext.system("test")
KEYS = 30  # two listing pages of at most 25
ROTATED = [f"pay-count-{n:02d}" for n in range(0, KEYS, 3)]  # 10 keys with two versions
WITH_POLICY = [f"pay-count-{n:02d}" for n in range(0, KEYS, 5)]
# Besides the key listing every run reads the deleted keys (one page) and role assignments.
OTHER_CALLS = {"deleted keys page": 1, "role assignments": 2}
# Columns that say when or by which run a row was read, not what the HSM holds.
WHEN_READ = {"id", "observed_at", "last_synced_at", "sync_run", "drift_detected_at"}


def sync(**kwargs):
    return sync_inventory(ctx=CTX, **kwargs)


def sync_calls(hsm, seq: int) -> Counter:
    """The sync's HSM calls since `seq`, by kind."""
    kinds = Counter()
    for call in hsm.calls_since(seq):
        method, path = call["method"], call["path"]
        if path == "/keys":
            kinds["keys page"] += 1
        elif path == "/deletedkeys":
            kinds["deleted keys page"] += 1
        elif "roleAssignments" in path or "roleDefinitions" in path:
            kinds["role assignments"] += 1
        elif path.endswith("/versions"):
            kinds["versions"] += 1
        elif path.endswith("/rotationpolicy"):
            kinds["policy"] += 1
        else:
            kinds[f"{method} {path}"] += 1
    return kinds


def counted_sync(hsm, **kwargs) -> Counter:
    seq = hsm.process.latest_seq()
    sync(**kwargs)
    return sync_calls(hsm, seq)


def inventory() -> dict:
    """Every key row and version as the HSM's state shapes them (no read times)."""
    fields = [f.attname for f in ManagedKey._meta.concrete_fields if f.attname not in WHEN_READ]
    keys = {row["name"]: row for row in ManagedKey.objects.values(*fields)}
    for name in keys:
        keys[name]["versions"] = sorted(
            KeyVersion.objects.filter(key__name=name).values_list(
                "version", "enabled", "created_on", "updated_on", "not_before", "expires_on"
            )
        )
    return keys


@pytest.fixture
def many_keys(hsm, payments_team):
    """KEYS keys made outside Keywarden: some rotated, some with a rotation policy, settled
    (HSM times have one-second precision)."""
    for number in range(KEYS):
        name = f"pay-count-{number:02d}"
        hsm.operator.create_key(name, kty="EC-HSM", curve="P-256", key_ops=["sign", "verify"])
        if name in ROTATED:
            hsm.operator.rotate_key(name)
        if name in WITH_POLICY:
            hsm.operator.set_rotation_policy(
                name, expires_in="P1Y", lifetime_actions=[LifetimeAction("Rotate", "P90D")]
            )
    time.sleep(1.1)
    return hsm


def test_cold_sync_reads_each_unknown_key_its_key_versions_and_policy(many_keys):
    calls = counted_sync(many_keys, full=True)
    assert calls == {"keys page": 2, "policy": KEYS, "versions": KEYS, **OTHER_CALLS} | {
        f"GET /keys/pay-count-{n:02d}/": 1 for n in range(KEYS)
    }


def test_resync_with_nothing_changed_reads_the_listings_only(many_keys):
    sync(full=True)
    assert counted_sync(many_keys) == {"keys page": 2, **OTHER_CALLS}


def test_full_resync_with_nothing_changed_reads_policies_and_older_versions_only(many_keys):
    sync(full=True)
    before = inventory()
    calls = counted_sync(many_keys, full=True)
    assert calls == {"keys page": 2, "policy": KEYS, "versions": len(ROTATED), **OTHER_CALLS}
    assert inventory() == before


def test_key_rotated_outside_keywarden_costs_a_get_and_its_versions(many_keys):
    sync(full=True)
    rotated = many_keys.operator.rotate_key("pay-count-07")
    calls = counted_sync(many_keys)
    assert calls == {
        "keys page": 2,
        "GET /keys/pay-count-07/": 1,
        "versions": 1,
        **OTHER_CALLS,
    }
    row = ManagedKey.objects.get(name="pay-count-07")
    assert (row.current_version, row.version_count, row.last_rotated_on) == (
        rotated.version,
        2,
        rotated.created_on,
    )


def test_key_changed_outside_keywarden_costs_one_get(many_keys):
    sync(full=True)
    many_keys.operator.update_key("pay-count-04", key_ops=["verify"], tags={"touched": "yes"})
    calls = counted_sync(many_keys)
    assert calls == {"keys page": 2, "GET /keys/pay-count-04/": 1, **OTHER_CALLS}
    row = ManagedKey.objects.get(name="pay-count-04")
    assert (row.key_ops, row.tags, row.version_count) == (["verify"], {"touched": "yes"}, 1)


def test_rows_after_incremental_and_full_syncs_equal_a_complete_read(many_keys):
    # given: a synced inventory, then changes behind Keywarden's back
    sync(full=True)
    operator = many_keys.operator
    operator.rotate_key("pay-count-01")
    operator.rotate_key("pay-count-03")
    operator.rotate_key("pay-count-03")
    operator.update_key("pay-count-08", enabled=False, tags={"state": "off"})
    operator.update_key("pay-count-09", key_ops=["sign"])
    operator.set_rotation_policy(
        "pay-count-11", expires_in="P2Y", lifetime_actions=[LifetimeAction("Rotate", "P1Y")]
    )
    time.sleep(1.1)
    # when: an incremental then a full sync, against a complete read of every key
    sync()
    sync(full=True)
    synced = inventory()
    for model in (KeyVersion, RoleAssignmentMirror, ManagedKey):
        model.objects.all().delete()
    sync(full=True)
    # then
    assert synced == inventory()
    assert (synced["pay-count-03"]["version_count"], synced["pay-count-08"]["enabled"]) == (
        4,
        False,
    )
    assert synced["pay-count-11"]["rotation_policy"] == {
        "lifetime_actions": [{"action": "Rotate", "time_after_create": "P1Y"}],
        "expiry_time": "P2Y",
    }


def test_incremental_sync_leaves_a_policy_changed_alone_to_the_full_sync(many_keys):
    sync(full=True)
    many_keys.operator.set_rotation_policy(
        "pay-count-02", expires_in="P2Y", lifetime_actions=[LifetimeAction("Rotate", "P1Y")]
    )
    sync()
    assert ManagedKey.objects.get(name="pay-count-02").rotation_policy is None
    sync(full=True)
    assert ManagedKey.objects.get(name="pay-count-02").rotation_policy == {
        "lifetime_actions": [{"action": "Rotate", "time_after_create": "P1Y"}],
        "expiry_time": "P2Y",
    }


def test_quiet_resync_stamps_every_row_with_its_run_and_purges_none(many_keys):
    sync(full=True)
    many_keys.operator.delete_key("pay-count-05")
    many_keys.operator.purge_key("pay-count-05")
    run = sync()
    rows = ManagedKey.objects.exclude(name="pay-count-05")
    assert (rows.filter(sync_run=run.pk, state="active").count(), run.keys_purged) == (KEYS - 1, 1)
    assert rows.filter(observed_at__lt=run.started_at).exists() is False
    assert ManagedKey.objects.get(name="pay-count-05").state == "purged"
