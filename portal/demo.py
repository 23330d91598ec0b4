"""The demo data set of PRODUCT.md §11: teams payments/identity (and the HSM platform team that
keeps the custody register) and one user per role."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from accounts.roles import Role
from accounts.services import save_team, set_user_access
from audit.context import AuditContext
from custody.demo import seed_custody_register


@dataclass(frozen=True)
class DemoTeam:
    slug: str
    name: str
    key_prefix: str


@dataclass(frozen=True)
class DemoUser:
    username: str
    full_name: str
    teams: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()


DEMO_TEAMS = (
    DemoTeam("payments", "Payments", "pay-"),
    DemoTeam("identity", "Identity", "idn-"),
    # CUSTODY_TEAM: its members ask for security-domain register changes and ceremonies.
    DemoTeam("hsm-platform", "HSM platform", "hsm-"),
)
DEMO_USERS = (
    DemoUser("alice", "Alice Payments", teams=("payments",)),
    DemoUser("bob", "Bob Identity", teams=("identity",)),
    DemoUser("heidi", "Heidi Platform", teams=("hsm-platform",)),
    DemoUser("carol", "Carol Custodian", roles=(Role.CUSTODIAN,)),
    DemoUser("dave", "Dave Custodian", roles=(Role.CUSTODIAN,)),
    # A third custodian: the seeded key.purge policy needs three approvals.
    DemoUser("grace", "Grace Custodian", roles=(Role.CUSTODIAN,)),
    DemoUser("erin", "Erin Admin", roles=(Role.ADMIN,)),
    DemoUser("frank", "Frank Auditor", roles=(Role.AUDITOR,)),
)


@transaction.atomic
def seed_demo(*, password: str) -> list[User]:
    """Create or refresh the demo teams and users. Idempotent: a second run changes nothing
    but resets the demo users' password and access to the documented values."""
    ctx = AuditContext.system("seed_demo")
    teams = {
        spec.slug: save_team(slug=spec.slug, name=spec.name, key_prefix=spec.key_prefix, ctx=ctx)
        for spec in DEMO_TEAMS
    }
    users = []
    for spec in DEMO_USERS:
        first, _, last = spec.full_name.partition(" ")
        user, _ = User.objects.update_or_create(
            username=spec.username,
            defaults={
                "first_name": first,
                "last_name": last,
                "email": f"{spec.username}@example.com",
            },
        )
        user.set_password(password)
        user.save(update_fields=["password"])
        set_user_access(user=user, teams=[teams[s] for s in spec.teams], roles=spec.roles, ctx=ctx)
        users.append(user)
    seed_custody_register(now=timezone.now(), ctx=ctx)
    return users
