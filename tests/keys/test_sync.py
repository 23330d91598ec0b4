"""Inventory sync against the emulator: keys and assignments made outside Keywarden show up,
deletions are marked, drift is flagged and audited, and the cost stays flat."""

import time

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit.context import AuditContext
from audit.models import AuditEvent
from keys.gateway import LifetimeAction
from keys.models import InventorySyncRun, KeyState, KeyVersion, ManagedKey, RoleAssignmentMirror
from keys.services.inventory import record_key_applied
from keys.services.sync import SyncAlreadyRunning, sync_inventory
from keys.tasks import sync_inventory_task
from tests.support.hsm import CRYPTO_USER, ROLE_ID_PREFIX

CTX = AuditContext.system("test")
APP_OID = "00000000-0000-0000-0000-0000000000e1"


def sync(**kwargs):
    return sync_inventory(ctx=CTX, **kwargs)


def drift_events():
    return list(AuditEvent.objects.filter(action="key.drift_detected").order_by("sequence"))


def test_sync_judges_every_key_it_reads_and_marks_deleted_ones_not_applicable(hsm, payments_team):
    # given: a key of class `active` rotated by the HSM every 60 days, and a plain one, deleted
    hsm.operator.create_key(
        "pay-active",
        kty="EC-HSM",
        curve="P-256",
        key_ops=["sign"],
        tags={"keywarden-class": "active"},
    )
    hsm.operator.set_rotation_policy(
        "pay-active", expires_in="P1Y", lifetime_actions=[LifetimeAction("Rotate", "P60D")]
    )
    hsm.operator.create_key("pay-plain", kty="EC-HSM", curve="P-256", key_ops=["sign"])
    sync()
    hsm.operator.delete_key("pay-plain")
    # when
    sync()
    # then
    active = ManagedKey.objects.get(name="pay-active")
    assert (active.rotation_class, active.compliance_state, active.compliance_mechanism) == (
        "active",
        "compliant",
        "hsm_policy",
    )
    assert active.compliance_due_on == active.current_version_created_on + timezone.timedelta(
        days=60
    )
    plain = ManagedKey.objects.get(name="pay-plain")
    assert (plain.rotation_class, plain.compliance_state, plain.compliance_reason) == (
        "standard",
        "not_applicable",
        "The key is deleted.",
    )


def test_keys_made_outside_keywarden_appear_unmanaged_with_details(hsm, payments_team):
    # given: an operator creates and rotates a key directly in the HSM
    first = hsm.operator.create_key(
        "pay-outside", kty="RSA-HSM", size=2048, key_ops=["sign"], tags={"owner": "ops"}
    )
    second = hsm.operator.rotate_key("pay-outside")
    hsm.operator.set_rotation_policy(
        "pay-outside", expires_in="P1Y", lifetime_actions=[LifetimeAction("Rotate", "P90D")]
    )
    # when
    run = sync()
    # then
    key = ManagedKey.objects.get(name="pay-outside")
    assert (key.team, key.kty, key.key_size, key.key_ops) == (
        payments_team,
        "RSA-HSM",
        2048,
        ["sign"],
    )
    assert (key.current_version, key.version_count, key.tags) == (
        second.version,
        2,
        {"owner": "ops"},
    )
    assert key.rotation_policy == {
        "lifetime_actions": [{"action": "Rotate", "time_after_create": "P90D"}],
        "expiry_time": "P1Y",
    }
    assert set(KeyVersion.objects.filter(key=key).values_list("version", flat=True)) == {
        first.version,
        second.version,
    }
    assert (key.has_drift, key.drift_reasons) == (
        True,
        ["Created outside Keywarden (unmanaged key)."],
    )
    assert (run.status, run.keys_seen, run.keys_new, run.drift_found) == ("succeeded", 1, 1, 1)
    assert [e.target_name for e in drift_events()] == ["pay-outside"]


def test_key_without_a_team_prefix_has_no_team(hsm, payments_team):
    hsm.operator.create_key("legacy-key", kty="EC-HSM", curve="P-256")
    sync()
    assert ManagedKey.objects.get(name="legacy-key").team is None


def test_role_assignment_made_outside_keywarden_is_drift(hsm, payments_team):
    hsm.operator.create_key("pay-shared", kty="EC-HSM", curve="P-256")
    sync()
    hsm.admin.create_role_assignment(
        scope="/keys/pay-shared",
        role_definition_id=ROLE_ID_PREFIX + CRYPTO_USER,
        principal_id=APP_OID,
        name="5e5e5e5e-0000-4000-8000-000000000001",
    )
    sync()
    mirror = RoleAssignmentMirror.objects.get(name="5e5e5e5e-0000-4000-8000-000000000001")
    assert (mirror.scope, mirror.principal_id, mirror.role_name) == (
        "/keys/pay-shared",
        APP_OID,
        "Managed HSM Crypto User",
    )
    assert (mirror.key.name, mirror.team, mirror.has_drift) == ("pay-shared", payments_team, True)
    assert mirror.drift_reasons == ["Assigned outside Keywarden."]
    assert drift_events()[-1].after["principal_id"] == APP_OID


def test_assignment_removed_outside_keywarden_is_marked_absent(hsm, payments_team):
    hsm.operator.create_key("pay-shared", kty="EC-HSM", curve="P-256")
    hsm.admin.create_role_assignment(
        scope="/keys/pay-shared",
        role_definition_id=ROLE_ID_PREFIX + CRYPTO_USER,
        principal_id=APP_OID,
        name="5e5e5e5e-0000-4000-8000-000000000002",
    )
    sync()
    hsm.admin.delete_role_assignment(
        scope="/keys/pay-shared", name="5e5e5e5e-0000-4000-8000-000000000002"
    )
    sync()
    mirror = RoleAssignmentMirror.objects.get(name="5e5e5e5e-0000-4000-8000-000000000002")
    assert (mirror.is_present, mirror.has_drift) == (False, False)


def test_soft_deleted_and_purged_keys_are_marked(hsm, payments_team):
    hsm.operator.create_key("pay-old", kty="EC-HSM", curve="P-256")
    hsm.operator.create_key("pay-older", kty="EC-HSM", curve="P-256")
    sync()
    hsm.operator.delete_key("pay-old")
    hsm.operator.delete_key("pay-older")
    hsm.operator.purge_key("pay-older")
    run = sync()
    deleted, purged = (
        ManagedKey.objects.get(name="pay-old"),
        ManagedKey.objects.get(name="pay-older"),
    )
    assert (deleted.state, purged.state) == (KeyState.DELETED, KeyState.PURGED)
    assert deleted.scheduled_purge_on > timezone.now()
    assert (run.keys_deleted, run.keys_purged) == (1, 1)


def test_out_of_band_change_to_a_managed_key_is_drift_and_audited_once(hsm, payments_team):
    # given: a key Keywarden made and recorded
    key = hsm.keywarden.create_key("pay-managed", kty="EC-HSM", curve="P-256", tags={"a": "1"})
    record_key_applied(key=key, now=timezone.now())
    sync()
    assert ManagedKey.objects.get(name="pay-managed").has_drift is False
    # when: someone disables it and changes its tags directly in the HSM
    hsm.operator.update_key("pay-managed", enabled=False, tags={"a": "2"})
    sync()
    sync()
    # then
    row = ManagedKey.objects.get(name="pay-managed")
    assert row.has_drift is True
    assert row.drift_reasons == [
        "enabled changed outside Keywarden: True → False.",
        "tags changed outside Keywarden: {'a': '1'} → {'a': '2'}.",
    ]
    assert [e.target_name for e in drift_events()] == ["pay-managed"]


def test_out_of_band_rotation_is_drift_but_policy_rotation_is_not(hsm, payments_team):
    manual = hsm.keywarden.create_key("pay-manual", kty="EC-HSM", curve="P-256")
    auto = hsm.keywarden.create_key("pay-auto", kty="EC-HSM", curve="P-256")
    policy = {
        "lifetime_actions": [{"action": "Rotate", "time_after_create": "P30D"}],
        "expiry_time": "P1Y",
    }
    hsm.keywarden.set_rotation_policy(
        "pay-auto", expires_in="P1Y", lifetime_actions=[LifetimeAction("Rotate", "P30D")]
    )
    record_key_applied(key=manual, now=timezone.now())
    record_key_applied(key=auto, now=timezone.now(), rotation_policy=policy)
    hsm.operator.rotate_key("pay-manual")
    hsm.operator.rotate_key("pay-auto")  # stands in for the HSM's own timer
    sync()
    assert ManagedKey.objects.get(name="pay-manual").has_drift is True
    assert ManagedKey.objects.get(name="pay-auto").has_drift is False


def test_incremental_sync_skips_unchanged_keys(hsm, payments_team):
    for number in range(5):
        hsm.operator.create_key(f"pay-quiet-{number}", kty="EC-HSM", curve="P-256")
    time.sleep(1.1)  # HSM timestamps have one-second precision: let the creations settle
    sync()
    hsm.operator.update_key("pay-quiet-3", tags={"touched": "yes"})
    seq = hsm.process.latest_seq()
    sync()
    detail_reads = {r["path"] for r in hsm.calls_since(seq) if r["path"].startswith("/keys/pay")}
    # its current version is the same: one get, no versions listing, the policy left to the
    # full sync (tests/keys/test_sync_reads.py counts every case)
    assert detail_reads == {"/keys/pay-quiet-3/"}
    assert ManagedKey.objects.get(name="pay-quiet-3").tags == {"touched": "yes"}


def test_sql_statements_do_not_grow_with_the_number_of_keys(hsm, payments_team):
    def statements_for(count: int) -> int:
        hsm.reset()
        ManagedKey.objects.all().delete()
        for number in range(count):
            hsm.operator.create_key(f"pay-many-{number:03d}", kty="oct-HSM", size=128)
        with CaptureQueriesContext(connection) as queries:
            sync(full=True)
        return len(queries)

    assert statements_for(5) == statements_for(60)


def test_second_concurrent_sync_is_refused(hsm, db):
    InventorySyncRun.objects.create(
        id="7d0d6f1e-0000-4000-8000-000000000001",
        started_at=timezone.now(),
        heartbeat_at=timezone.now(),
        status="running",
    )
    with pytest.raises(SyncAlreadyRunning):
        sync()
    assert InventorySyncRun.objects.count() == 1


def test_abandoned_run_does_not_block_forever(hsm, db):
    long_ago = timezone.now() - timezone.timedelta(hours=1)
    InventorySyncRun.objects.create(
        id="7d0d6f1e-0000-4000-8000-000000000002",
        started_at=long_ago,
        heartbeat_at=long_ago,
        status="running",
    )
    run = sync()
    assert run.status == "succeeded"
    assert (
        InventorySyncRun.objects.get(pk="7d0d6f1e-0000-4000-8000-000000000002").status == "failed"
    )


def test_failed_sync_marks_nothing_purged(hsm, payments_team):
    hsm.operator.create_key("pay-kept", kty="EC-HSM", curve="P-256")
    sync()
    hsm.process.set_faults([{"match": "GET /keys$", "status": 503, "count": 50}])
    with pytest.raises(Exception, match="Service"):
        sync()
    assert ManagedKey.objects.get(name="pay-kept").state == KeyState.ACTIVE
    run = InventorySyncRun.objects.order_by("-started_at").first()
    assert (run.status, run.error.split(":")[0]) == ("failed", "HsmUnavailable")


def test_sync_command_reports_counts(hsm, payments_team, capsys):
    hsm.operator.create_key("pay-cmd", kty="EC-HSM", curve="P-256")
    call_command("sync_inventory")
    assert "Synced 1 keys (1 new), 0 deleted, 0 purged" in capsys.readouterr().out


@pytest.mark.django_db(transaction=True)
def test_sync_task_runs_on_a_worker(hsm, live_worker, payments_team):
    hsm.operator.create_key("pay-async", kty="EC-HSM", curve="P-256")
    result = sync_inventory_task.delay(full=True, trigger="test").get(timeout=60)
    assert result["status"] == "succeeded", live_worker.log_tail()
    assert result["keys_seen"] == 1, live_worker.log_tail()
    assert ManagedKey.objects.filter(name="pay-async").exists()
