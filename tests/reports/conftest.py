"""A seeded inventory for the rotation dashboard: 46 keys over three teams (and one without a
team) covering every compliance state and both classes, judged by the real refresh at NOW.

Each team holds one key of every kind A-M below, plus extras (payments +3 A, identity +2 E,
storage +1 C); `legacy-1` belongs to no team. The expected numbers in the tests are counted by
hand from this table (ages in days at NOW; `standard` allows 2 years, `active` 90 days, both
warn 30 days ahead):

kind  class     what                                   state           mechanism   age bin
A     standard  HSM Rotate P1Y, age 100                compliant       hsm_policy  90-180 d
B     active    schedule in 40 d, age 10               compliant       schedule    0-30 d
C     active    HSM Rotate P80D, age 75 (due in 5 d)   due_soon        hsm_policy  30-90 d
D     standard  schedule in 20 d, age 400              due_soon        schedule    1-2 y
E     standard  nothing, age 800                       overdue         none        > 2 y
F     active    nothing, age 120                       overdue         none        90-180 d
G     standard  nothing, age 200, expired yesterday    expired         none        180 d-1 y
H     standard  HSM Rotate P1Y, age 50, expires in 10  expiring_soon   hsm_policy  30-90 d
I     standard  nothing, age 20                        no_rotation     none        0-30 d
J     standard  nothing, age 5, unmanaged              no_rotation     none        0-30 d
K     standard  HSM Rotate P1Y, age 100, drift         compliant       hsm_policy  90-180 d
L     standard  disabled on purpose, age 60            not_applicable  none        30-90 d
M     standard  deleted (not on the dashboard)         not_applicable  none        —
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from keys.models import RotationSchedule
from keys.services.compliance import refresh_compliance
from tests.factories import ManagedKeyFactory, TeamFactory
from tests.web.conftest import (  # noqa: F401 (fixtures)
    browser_type_launch_args,
    browsing,
    client_for,
    screenshot,
)

NOW = datetime(2026, 6, 1, 12, tzinfo=timezone.utc)
ROTATE_P1Y = {"lifetime_actions": [{"action": "Rotate", "time_after_create": "P1Y"}]}
ROTATE_P80D = {"lifetime_actions": [{"action": "Rotate", "time_after_create": "P80D"}]}
ACTIVE = {"keywarden-class": "active"}

# kind: (age in days, key attributes, schedule's next run in days or None, expected state)
KINDS = {
    "a": (100, {"rotation_policy": ROTATE_P1Y}, None, "compliant"),
    "b": (10, {"tags": ACTIVE}, 40, "compliant"),
    "c": (75, {"tags": ACTIVE, "rotation_policy": ROTATE_P80D}, None, "due_soon"),
    "d": (400, {}, 20, "due_soon"),
    "e": (800, {}, None, "overdue"),
    "f": (120, {"tags": ACTIVE}, None, "overdue"),
    "g": (200, {"expires_on": NOW - timedelta(days=1)}, None, "expired"),
    "h": (
        50,
        {"rotation_policy": ROTATE_P1Y, "expires_on": NOW + timedelta(days=10)},
        None,
        "expiring_soon",
    ),
    "i": (20, {}, None, "no_rotation"),
    "j": (5, {"last_applied": None}, None, "no_rotation"),
    "k": (100, {"rotation_policy": ROTATE_P1Y, "has_drift": True}, None, "compliant"),
    "l": (60, {"enabled": False}, None, "not_applicable"),
    "m": (30, {"state": "deleted"}, None, "not_applicable"),
}
EXTRAS = {"payments": ["a", "a", "a"], "identity": ["e", "e"], "storage": ["c"]}


def make_key(name, team, kind, *, now=NOW):
    age, attributes, schedule_in, _state = KINDS[kind]
    key = ManagedKeyFactory(
        name=name,
        team=team,
        current_version_created_on=now - timedelta(days=age),
        **attributes,
    )
    if schedule_in is not None:
        RotationSchedule.objects.create(
            key=key,
            cadence="P90D",
            mode="standing",
            approved_by=uuid.uuid4(),
            approved_payload_hash="0" * 64,
            created_at=now - timedelta(days=age),
            next_run_on=now + timedelta(days=schedule_in),
        )
    return key


@pytest.fixture
def storage_team(db):
    return TeamFactory(slug="storage", name="Storage", key_prefix="stg-")


@pytest.fixture
def seeded_inventory(payments_team, identity_team, storage_team):
    """The 46 keys of the table above, judged at NOW: {name: expected state}."""
    expected = {}
    for team in (payments_team, identity_team, storage_team):
        kinds = [*KINDS, *EXTRAS[team.slug]]
        for index, kind in enumerate(kinds):
            name = f"{team.key_prefix}{kind}-{index}"
            make_key(name, team, kind)
            expected[name] = KINDS[kind][3]
    ManagedKeyFactory(
        name="legacy-1",
        team=None,
        last_applied=None,
        current_version_created_on=NOW - timedelta(days=900),
    )
    expected["legacy-1"] = "overdue"
    refresh_compliance(now=NOW)
    return expected


def tiles_of(report: dict) -> dict:
    return {tile["name"]: tile["value"] for tile in report["tiles"]}


def set_times(model, pk, **times) -> None:
    """Back-date auto_now_add columns (as rows made at those times would have them)."""
    model.objects.filter(pk=pk).update(**times)


@pytest.fixture
def request_history(requester, custodian, second_custodian, payments_team):
    """Requests of payments over the last 40 days (times relative to NOW, hours after
    creation for decisions); ApprovalPolicy: key.update waits one day, others the default 7."""
    from approvals.models import Approval, ApprovalPolicy, ChangeRequest

    ApprovalPolicy.objects.create(operation="key.update", max_wait=timedelta(days=1))

    def change(name, operation, state, created_days_ago, decided_hours=None, decisions=(), **kw):
        created = NOW - timedelta(days=created_days_ago)
        row = ChangeRequest.objects.create(
            operation=operation,
            team=payments_team,
            requester=requester,
            justification="Seeded for the dashboard.",
            params={"name": name},
            key_name=name,
            payload_hash="0" * 64,
            state=state,
            approvals_required=2,
            expires_at=created + timedelta(days=7),
            **kw,
        )
        decided = created + timedelta(hours=decided_hours) if decided_hours is not None else None
        set_times(ChangeRequest, row.pk, created_at=created, decided_at=decided)
        for custodian_user, decision, hours in decisions:
            vote = Approval.objects.create(
                request=row, approver=custodian_user, decision=decision, payload_hash="0" * 64
            )
            set_times(Approval, vote.pk, created_at=created + timedelta(hours=hours))
        return row

    carol, dave = custodian, second_custodian
    schedule = change(
        "pay-sched",
        "key.set_rotation_schedule",
        "succeeded",
        60,
        5,
        [(carol, "approve", 1), (dave, "approve", 5)],
    )
    made = {
        "r0": change("pay-r0", "key.rotate", "succeeded", 40, 20, [(carol, "approve", 10)]),
        "r1": change(
            "pay-r1", "key.rotate", "succeeded", 5, 3, [(carol, "approve", 1), (dave, "approve", 3)]
        ),
        "r2": change(
            "pay-r2", "key.rotate", "approved", 4, 6, [(carol, "approve", 2), (dave, "approve", 6)]
        ),
        "r3": change("pay-r3", "key.rotate", "rejected", 3, 4, [(carol, "reject", 4)]),
        "r4": change("pay-r4", "key.rotate", "expired", 20, 7 * 24),
        "standing": change("pay-d-3", "key.rotate", "succeeded", 2, 0, schedule_request=schedule),
        "failed": change(
            "pay-b-1",
            "key.rotate",
            "failed",
            1,
            0,
            schedule_request=schedule,
            error={"message": "=HYPERLINK(evil) Caller is not authorized."},
        ),
        "p1": change("pay-p1", "key.create", "pending", 10),
        "p2": change("pay-p2", "key.create", "pending", 1),
        "u1": change("pay-u1", "key.update", "pending", 2),
    }
    return made
