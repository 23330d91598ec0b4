"""Operations settings: task time limits per task, heartbeat period, metrics access; each bad
value refuses to start with a message naming it."""

import pytest

from portal.celery import app
from tests.portal.test_settings import PRODUCTION_ENV, run_manage


@pytest.mark.parametrize(
    ("_case", "task", "soft", "hard"),
    [
        ("execution: 3 x the HSM call deadline (120 s)", "approvals.execute_request", 600, 630),
        ("mail", "approvals.notify", 120, 150),
        ("sweeper", "approvals.sweep", 300, 330),
        ("inventory sync", "keys.sync_inventory", 3600, 3630),
        ("audit verification", "keys.run_audit_verification", 3600, 3630),
        ("any other task", "portal.ping", 900, 930),
    ],
)
def test_every_task_has_a_soft_and_a_hard_time_limit(_case, task, soft, hard):
    app.loader.import_default_modules()
    registered = app.tasks[task]
    assert (registered.soft_time_limit, registered.time_limit) == (soft, hard)


@pytest.mark.parametrize(
    ("_case", "variable", "value", "message"),
    [
        (
            "execution shorter than one HSM call with retries",
            "EXECUTION_SOFT_TIME_LIMIT_SECONDS",
            "130",
            "EXECUTION_SOFT_TIME_LIMIT_SECONDS must exceed one HSM call with its retries "
            "(HSM_CALL_DEADLINE_SECONDS 120 + one try 36 s)",
        ),
        (
            "no heartbeat",
            "WORKER_HEARTBEAT_SECONDS",
            "0",
            "WORKER_HEARTBEAT_SECONDS must be >= 1, HEARTBEAT_STALE_PERIODS >= 2",
        ),
        (
            "a malformed network",
            "METRICS_ALLOWED_NETWORKS",
            "10.0.0.0/33",
            "METRICS_ALLOWED_NETWORKS entries must be IP addresses or CIDRs, got '10.0.0.0/33'",
        ),
    ],
)
def test_bad_operations_settings_refuse_to_start(_case, variable, value, message):
    result = run_manage("check", env={**PRODUCTION_ENV, variable: value})
    assert result.returncode != 0
    assert message in result.stderr
