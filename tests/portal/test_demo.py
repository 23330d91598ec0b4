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


def test_demo_database_migrates_and_seeds_twice_on_sqlite(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "DEBUG": "true", "KEYWARDEN_DATA_DIR": str(tmp_path)}
    for _ in range(2):
        for args in (["migrate", "--noinput"], ["seed_demo"]):
            result = subprocess.run(
                [sys.executable, "manage.py", *args],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=180,
            )
            assert result.returncode == 0, result.stderr
    assert "Seeded 6 demo users." in result.stdout
    assert (tmp_path / "keywarden.sqlite3").exists()
