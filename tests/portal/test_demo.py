import sqlite3
import subprocess
import sys
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import Membership, RoleGrant, Team, User
from approvals.models import ChangeRequest
from audit.context import AuditContext
from custody.models import FullBackup
from hsm_emulator import DEFAULT_ADMIN_OID
from hsm_emulator.client.launcher import EmulatorProcess
from keys.gateway import build_gateway
from keys.models import ManagedKey
from keys.services.sync import sync_inventory
from portal.demo import DEMO_USERS, seed_demo
from portal.demo_keys import DEMO_HISTORY, DEMO_KEYS, seed_demo_hsm
from portal.demo_recovery import PURGE_PROTECTION_REASON, seed_demo_recovery
from posture.models import Finding
from tests.support.worker import ROOT


def test_seed_demo_is_idempotent(db):
    # given
    seed_demo(password="pw-one-two-three")
    counts = (
        User.objects.count(),
        Team.objects.count(),
        Membership.objects.count(),
        RoleGrant.objects.count(),
    )
    # when
    seed_demo(password="pw-one-two-three")
    # then
    assert counts == (8, 3, 3, 5)
    assert (
        User.objects.count(),
        Team.objects.count(),
        Membership.objects.count(),
        RoleGrant.objects.count(),
    ) == counts


def test_seed_demo_gives_each_user_the_documented_access(db):
    seed_demo(password="pw-one-two-three")
    access = {
        user.username: (sorted(user.roles), sorted(t.slug for t in user.teams.all()))
        for user in User.objects.all()
    }
    assert access == {
        "alice": (["requester"], ["payments"]),
        "bob": (["requester"], ["identity"]),
        "heidi": (["requester"], ["hsm-platform"]),
        "carol": (["custodian"], []),
        "dave": (["custodian"], []),
        "grace": (["custodian"], []),
        "erin": (["admin"], []),
        "frank": (["auditor"], []),
    }
    assert [spec.username for spec in DEMO_USERS] == [
        "alice",
        "bob",
        "heidi",
        "carol",
        "dave",
        "grace",
        "erin",
        "frank",
    ]


def manage(data_dir, *args: str) -> str:
    """Run `manage.py` as `make demo` does (DEBUG, SQLite under `data_dir`); its stdout."""
    env = {"PATH": "/usr/bin:/bin", "DEBUG": "true", "KEYWARDEN_DATA_DIR": str(data_dir)}
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_demo_database_migrates_and_seeds_twice_on_sqlite(tmp_path):
    outputs = [
        manage(tmp_path, *args)
        for _ in range(2)
        for args in (["migrate", "--noinput"], ["seed_demo"])
    ]
    assert "Seeded 8 demo users." in outputs[-1]
    assert (tmp_path / "keywarden.sqlite3").exists()


def test_make_demo_resets_a_demo_database_from_before_the_fresh_migrations(tmp_path):
    # given: a demo database that applied the retired `portal` migrations, and its HSM state
    old = sqlite3.connect(tmp_path / "keywarden.sqlite3")
    old.execute("CREATE TABLE django_migrations (id integer, app text, name text, applied text)")
    old.execute("INSERT INTO django_migrations VALUES (1, 'portal', '0001_initial', '')")
    old.execute("CREATE TABLE portal_user (id integer)")
    old.commit()
    old.close()
    (tmp_path / "hsm").mkdir()
    (tmp_path / "hsm" / "keys.db").write_text("old")
    # when: the steps of `make demo` up to seeding
    outputs = [
        manage(tmp_path, *args)
        for args in (["reset_stale_demo"], ["migrate", "--noinput"], ["seed_demo"])
    ]
    # then
    assert "Reset the demo data" in outputs[0]
    assert "Seeded 8 demo users." in outputs[2]
    assert (tmp_path / "hsm").exists() is False
    tables = sqlite3.connect(tmp_path / "keywarden.sqlite3").execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE '%user'"
    )
    assert sorted(row[0] for row in tables) == ["accounts_user"]


def test_reset_stale_demo_leaves_a_current_demo_database_alone(tmp_path):
    outputs = [
        manage(tmp_path, *args)
        for args in (["migrate", "--noinput"], ["seed_demo"], ["reset_stale_demo"])
    ]
    assert outputs[-1] == ""
    users = sqlite3.connect(tmp_path / "keywarden.sqlite3").execute(
        "SELECT COUNT(*) FROM accounts_user"
    )
    assert users.fetchone()[0] == 8


# --- demo keys with real ages ---------------------------------------------------------------------
@pytest.fixture
def demo_hsm(tmp_path, settings):
    """A new demo HSM of its own (its clock starts DEMO_HISTORY behind real time), gateways
    pointed at it."""
    process = EmulatorProcess(
        tmp_path / "hsm", clock_start_behind=DEMO_HISTORY, extra_args=["--rotation-tick", "3600"]
    )
    with process:
        settings.HSM_URL, settings.HSM_CA_FILE = process.url, process.ca_path
        settings.HSM_CREDENTIAL = "emulator"
        yield process


def seed_keys(demo_hsm) -> list[str]:
    return seed_demo_hsm(
        admin_gateway=build_gateway(object_id=DEFAULT_ADMIN_OID),
        gateway=build_gateway(),
        clock=demo_hsm,
        now=timezone.now(),
    )


def test_demo_keys_show_compliance_variety_in_both_classes(db, demo_hsm):
    # given
    seed_demo(password="pw-one-two-three")

    # when
    created = seed_keys(demo_hsm)
    run = sync_inventory(ctx=AuditContext.system("test"), gateway=build_gateway(), full=True)

    # then
    keys = ManagedKey.objects.filter(name__in=created)
    states = set(keys.values_list("rotation_class", "compliance_state"))
    assert len(created) == len(DEMO_KEYS) == run.keys_seen
    assert demo_hsm.clock()["offset_seconds"] == 0
    assert {("standard", "overdue"), ("active", "overdue")} <= states
    assert {("standard", "compliant"), ("active", "compliant")} <= states
    assert {("standard", "due_soon"), ("active", "due_soon")} <= states
    assert {("standard", "expiring_soon"), ("active", "expiring_soon")} <= states
    assert {("standard", "no_rotation"), ("active", "no_rotation")} <= states
    assert keys.filter(compliance_state="not_applicable", enabled=False).count() == 2
    assert set(keys.values_list("team__slug", flat=True)) == {"payments", "identity"}


def test_demo_key_ages_come_from_the_hsm_and_span_three_years(db, demo_hsm):
    # given
    seed_demo(password="pw-one-two-three")
    seed_keys(demo_hsm)

    # when
    sync_inventory(ctx=AuditContext.system("test"), gateway=build_gateway(), full=True)

    # then
    now = timezone.now()
    ages = {
        key.name: (now - key.current_version_created_on).days for key in ManagedKey.objects.all()
    }
    assert ages["idn-legacy-ldap"] == 1090
    assert ages["pay-ledger-signing"] == 1040
    assert ages["idn-mfa-seeds"] == 10
    rotated_by_hsm = ManagedKey.objects.get(name="idn-token-signing")
    assert rotated_by_hsm.version_count > 1
    assert rotated_by_hsm.compliance_mechanism == "hsm_policy"


def test_seeding_the_demo_keys_again_changes_nothing(db, demo_hsm):
    # given
    seed_keys(demo_hsm)
    gateway = build_gateway()
    before = {k.name: (k.version, k.updated_on) for k in gateway.list_keys()}
    clock = demo_hsm.clock()["offset_seconds"]

    # when
    again = seed_keys(demo_hsm)

    # then
    assert again == []
    assert {k.name: (k.version, k.updated_on) for k in gateway.list_keys()} == before
    assert demo_hsm.clock()["offset_seconds"] == clock == 0


def test_the_demo_starts_with_two_findings_to_look_at_and_a_backup_taken_by_request(db, demo_hsm):
    # given: the demo's users, keys and first sync, as `make demo` makes them
    seed_demo(password="pw-one-two-three")
    seed_keys(demo_hsm)
    sync_inventory(ctx=AuditContext.system("test"), gateway=build_gateway(), full=True)
    now = timezone.now()

    # when
    done = seed_demo_recovery(now=now)
    again = seed_demo_recovery(now=now + timedelta(minutes=5))

    # then: the backup went through its dual-approved request, once
    backup = ChangeRequest.objects.get(operation="hsm.full_backup")
    assert (backup.state, backup.requester.username) == ("succeeded", "heidi")
    assert sorted(backup.approvals.values_list("approver__username", flat=True)) == [
        "carol",
        "dave",
    ]
    assert FullBackup.objects.get().request_id == backup.pk
    assert done == [
        f"full backup {backup.result['folder_url']} (succeeded)",
        "purge protection off accepted as a risk",
    ]
    assert again == []
    # and: two open findings, the purge protection an accepted risk with its reason
    later = now + timedelta(minutes=5)
    states = {f.rule: f.state_at(later) for f in Finding.objects.all()}
    assert states == {
        "principal.multiple_roles": "open",
        "assignment.key_role_at_root": "open",
        "hsm.weak_recovery": "accepted",
    }
    accepted = Finding.objects.get(rule="hsm.weak_recovery")
    assert (accepted.accepted_by.username, accepted.accepted_reason) == (
        "erin",
        PURGE_PROTECTION_REASON,
    )
