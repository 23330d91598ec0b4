"""Schemathesis over the whole OpenAPI schema, against a live server, once per role: no
server error and no response outside the schema (bounded examples, fixed seed, so a failure
reproduces). The server talks to the session's emulator and PostgreSQL like production."""

from __future__ import annotations

import subprocess
import sys

import pytest
from knox.models import AuthToken

from tests.approvals.conftest import submit
from tests.factories import ManagedKeyFactory

pytestmark = pytest.mark.django_db(transaction=True)
SEED, EXAMPLES = 20261201, 8
CHECKS = "not_a_server_error,response_schema_conformance,status_code_conformance"


@pytest.fixture
def seeded(requester, payments_team, custodian, second_custodian, admin_user, auditor, hsm):
    """Something to read and act on: keys of the team and a pending request."""
    ManagedKeyFactory(name="pay-live", team=payments_team)
    ManagedKeyFactory(name="pay-other", team=payments_team)
    submit(requester, "key.rotate", params={"name": "pay-live"})
    return {
        "requester": requester,
        "custodian": custodian,
        "admin": admin_user,
        "auditor": auditor,
    }


# Random inputs and stateful sequences (about 35 s a role) run for every role. Schemathesis's
# coverage phase (boundary and wrong-type values of every parameter, about 3,300 cases and three
# minutes) runs once, for the requester: the role that reaches the most operations (all but the
# eight of custodians, admins and auditors) and the richest body, a request's per-operation params.
# Schemathesis's own --workers above 1 is no way out: its coverage phase then breaks in threads.
ROLES = ("requester", "custodian", "admin", "auditor")
PHASES = [
    *((role, "examples,fuzzing,stateful") for role in ROLES),
    ("requester", "coverage"),
]


@pytest.mark.timeout(600)
@pytest.mark.parametrize(("role", "phases"), PHASES)
def test_no_server_error_and_no_response_outside_the_schema(
    role, phases, seeded, live_server, tmp_path
):
    _, token = AuthToken.objects.create(seeded[role])
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "run",
            f"{live_server.url}/api/schema/",
            "--url",
            live_server.url,
            "--header",
            f"Authorization: Token {token}",
            "--checks",
            CHECKS,
            "--phases",
            phases,
            "--max-examples",
            str(EXAMPLES),
            "--seed",
            str(SEED),
            "--generation-deterministic",
            "--workers",
            "1",
            "--exclude-path",
            "/api/v1/auth/logout/",
            "--no-color",
            "--report",
            "junit",
            "--report-dir",
            str(tmp_path),
        ],
        cwd=tmp_path,  # whatever it caches stays out of the checkout
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stdout[-20000:]
