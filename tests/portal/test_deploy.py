"""deploy/alerts.yml and docker-compose.yml, read as Prometheus and Compose would: every alert
names series /metrics really exposes; the compose topology runs each queue's worker and beat
with healthchecks and restarts, as the least-privilege role, without demo users by default."""

import re
from pathlib import Path

import pytest
import yaml
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from audit.context import AuditContext
from audit.services import seal_events
from keys import metrics as counters
from keys.gateway import HsmThrottled
from keys.services.audit_checkpoints import checkpoint_audit_trail
from keys.services.bootstrap import bootstrap_audit_signer
from keys.services.sync import sync_inventory
from portal.heartbeats import record_heartbeat
from portal.metrics import exposition
from portal.models import ProcessKind

ROOT = Path(__file__).resolve().parents[2]
ALERTS = yaml.safe_load((ROOT / "deploy" / "alerts.yml").read_text())
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
RULES = [rule for group in ALERTS["groups"] for rule in group["rules"]]
LONG_RUNNING = [name for name, service in COMPOSE["services"].items() if name != "migrate"]


@pytest.fixture
def every_series(db, hsm, settings, tmp_path, django_capture_on_commit_callbacks):
    """Sample names of a scrape where every family has data: a sync, a sealed and checkpointed
    audit trail, HSM calls with a 429, a finished execution, a beat."""
    settings.AUDIT_CHECKPOINT_FILE = str(tmp_path / "checkpoints.jsonl")
    bootstrap_audit_signer(admin_gateway=hsm.admin, key_manager_gateway=hsm.keywarden)
    sync_inventory(ctx=AuditContext.system("test"))
    seal_events()
    with django_capture_on_commit_callbacks(execute=True):
        checkpoint_audit_trail(now=timezone.now(), force=True)
    counters.count_hsm_error("key.create", HsmThrottled("slow down"))
    counters.observe_execution(operation="key.create", outcome="failed", seconds=3.0)
    record_heartbeat(kind=ProcessKind.BEAT, name="beat@test", now=timezone.now())
    text = exposition(now=timezone.now()).decode()
    return {s.name for family in text_string_to_metric_families(text) for s in family.samples}


def test_alert_rules_are_prometheus_rules_with_a_severity_and_a_summary():
    assert [group["name"] for group in ALERTS["groups"]] == [
        "keywarden-liveness",
        "keywarden-hsm",
        "keywarden-audit-and-inventory",
        "keywarden-compliance",
    ]
    for rule in RULES:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert re.fullmatch(r"Keywarden[A-Za-z]+", rule["alert"])
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        assert rule["expr"].count("(") == rule["expr"].count(")"), rule["alert"]


def test_every_alert_reads_series_that_metrics_exposes(every_series):
    named = {rule["alert"]: set(re.findall(r"\bkeywarden_[a-z_]+", rule["expr"])) for rule in RULES}
    missing = {
        alert: names - every_series for alert, names in named.items() if names - every_series
    }
    assert missing == {}
    assert all(named.values())  # each rule reads at least one of ours


def test_compose_runs_a_worker_for_every_queue_and_one_beat(settings):
    # the queue names of a deployment with the default CELERY_QUEUE (this run has its own)
    expected = {
        queue.replace(settings.CELERY_TASK_DEFAULT_QUEUE, "keywarden", 1)
        for queue in settings.CELERY_WORKER_QUEUES
    }
    served = set()
    for service in COMPOSE["services"].values():
        command = service.get("command", [])
        if command[:4] == ["celery", "-A", "portal", "worker"]:
            served |= set(command[command.index("--queues") + 1].split(","))
    beats = [s for s in COMPOSE["services"].values() if s.get("command", [])[3:4] == ["beat"]]
    assert served == expected
    assert len(beats) == 1


def test_compose_processes_restart_and_have_healthchecks():
    assert {
        name: (
            COMPOSE["services"][name].get("restart"),
            "test" in COMPOSE["services"][name].get("healthcheck", {}),
        )
        for name in LONG_RUNNING
    } == {name: ("unless-stopped", True) for name in LONG_RUNNING}
    assert COMPOSE["services"]["migrate"]["restart"] == "no"


def test_compose_app_processes_connect_as_the_app_role_and_seed_no_demo_users():
    base = COMPOSE["x-keywarden"]["environment"]
    migrate = COMPOSE["services"]["migrate"]["environment"]
    assert base["DATABASE_URL"].startswith("postgres://keywarden_app:")
    assert migrate["DATABASE_URL"].startswith("postgres://keywarden_owner:")
    assert migrate["SEED_DEMO"] == "${SEED_DEMO:-false}"
    for name in LONG_RUNNING:
        url = COMPOSE["services"][name].get("environment", base).get("DATABASE_URL", "")
        assert "postgres:" not in url.split("@")[0].removeprefix("postgres://"), name
