"""`rotation_plan --now <a year ahead> --json` on the demo lists the keys that would be rotated,
warned and found overdue, and `run_rotation_jobs` at that instant does exactly that. The demo
HSM is the real seed (keys aged over three years through the emulator's clock), one key gets a
standing schedule through the dual-approval workflow, executed by the real executor."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from accounts.models import User
from approvals import services
from approvals.models import ChangeRequest
from audit.context import AuditContext
from keys.gateway import build_gateway
from keys.models import KeyWarning, ManagedKey
from keys.services.sync import sync_inventory
from portal.demo import seed_demo
from tests.portal.test_demo import demo_hsm, seed_keys  # noqa: F401 (the fixture)

SCHEDULED = "pay-webhook-signing"


def command(*args: str) -> dict:
    out = StringIO()
    call_command(*args, stdout=out)
    return json.loads(out.getvalue())


def schedule_on_the_demo(key: str) -> None:
    """alice asks for a standing schedule, carol and dave approve, the executor records it."""
    alice, carol, dave = (User.objects.get(username=n) for n in ("alice", "carol", "dave"))
    change = services.submit_request(
        requester=alice,
        operation="key.set_rotation_schedule",
        team="payments",
        justification="Rotate the webhook key every 60 days.",
        params={"name": key, "cadence": "P60D", "mode": "standing"},
        ctx=AuditContext(actor=alice),
    )
    for custodian in (carol, dave):
        services.approve_request(
            request_id=change.pk,
            custodian=custodian,
            comment="ok",
            ctx=AuditContext(actor=custodian),
        )
    done = services.execute_request(
        request_id=change.pk, ctx=AuditContext.worker(task_id="test"), gateway=build_gateway()
    )
    assert done.state == "succeeded", done.error


@pytest.mark.django_db
def test_the_plan_a_year_ahead_is_what_the_jobs_then_do(demo_hsm):  # noqa: F811
    # given: the demo's users, keys and one standing schedule
    seed_demo(password="pw-one-two-three")
    seed_keys(demo_hsm)
    sync_inventory(ctx=AuditContext.system("test"), gateway=build_gateway(), full=True)
    schedule_on_the_demo(SCHEDULED)
    year_ahead = (timezone.now() + timedelta(days=365)).isoformat()
    # when
    plan = command("rotation_plan", "--now", year_ahead, "--json")
    assert ChangeRequest.objects.filter(schedule_request__isnull=False).count() == 0
    done = command("run_rotation_jobs", "--now", year_ahead)
    # then: the schedule's run, the HSM's policy rotations, overdue keys, warnings
    assert [(w["kind"], w["key"]) for w in plan["schedules"]] == [("rotate", SCHEDULED)]
    assert [(w["kind"], w["key"]) for w in done["schedules"]] == [("rotate", SCHEDULED)]
    [run] = ChangeRequest.objects.filter(schedule_request__isnull=False)
    assert (run.operation, run.key_name, run.state) == ("key.rotate", SCHEDULED, "approved")
    assert {r["key"] for r in plan["hsm_policy_rotations"]} == {
        "pay-fraud-model",
        "pay-session-keys",
        "idn-token-signing",
    }
    overdue = set(
        ManagedKey.objects.filter(compliance_state="overdue").values_list("name", flat=True)
    )
    assert overdue == set(plan["overdue"])
    assert {"pay-ledger-signing", "idn-saml-signing", "pay-api-tls"} <= overdue
    recorded = set(KeyWarning.objects.values_list("key__name", "kind", "threshold"))
    assert recorded == {(w["key"], w["kind"], w["threshold"]) for w in plan["warnings"]}
    assert done["warnings"]["recorded"] == len(plan["warnings"]) > 0
    # and a second plan at that instant has nothing left to open or warn about
    again = command("rotation_plan", "--now", year_ahead, "--json")
    assert (again["schedules"], again["warnings"], again["compliance_changes"]) == ([], [], [])


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--team", "paymnts"),
            "--team 'paymnts': no such team. Known: hsm-platform, identity, payments.",
        ),
        (("--now", "next tuesday"), "--now 'next tuesday': give an ISO-8601 time with an offset"),
    ],
)
def test_rotation_plan_refuses_a_team_or_instant_it_cannot_read(args, message):
    seed_demo(password="pw-one-two-three")
    with pytest.raises(CommandError, match=re.escape(message)):
        call_command("rotation_plan", *args, stdout=StringIO())
