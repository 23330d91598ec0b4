import sqlite3
import subprocess
import sys

from accounts.models import Membership, RoleGrant, Team, User
from portal.demo import DEMO_USERS, seed_demo
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
    assert counts == (6, 2, 2, 4)
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
        "carol": (["custodian"], []),
        "dave": (["custodian"], []),
        "erin": (["admin"], []),
        "frank": (["auditor"], []),
    }
    assert [spec.username for spec in DEMO_USERS] == [
        "alice",
        "bob",
        "carol",
        "dave",
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
    assert "Seeded 6 demo users." in outputs[-1]
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
    assert "Seeded 6 demo users." in outputs[2]
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
    assert users.fetchone()[0] == 6
