import subprocess
import sys

from portal.tasks import ping_task
from tests.support.worker import ROOT


def test_task_round_trips_through_live_worker(live_worker):
    result = ping_task.delay("live")
    assert result.get(timeout=30) == "pong:live"


def test_task_round_trips_through_embedded_broker(tmp_path):
    # given: demo settings — no DATABASE_URL, no CELERY_BROKER_URL (filesystem broker)
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "DEBUG": "true",
        "KEYWARDEN_DATA_DIR": str(tmp_path / "var"),
        "CELERY_QUEUE": "keywarden",
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "portal",
            "worker",
            "--pool",
            "solo",
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=ROOT,
        env=env,
        stdout=(tmp_path / "worker.log").open("wb"),
        stderr=subprocess.STDOUT,
    )
    try:
        # when: a separate producer process sends the task through the filesystem broker
        producer = subprocess.run(
            [
                sys.executable,
                "manage.py",
                "shell",
                "-v",
                "0",
                "-c",
                "from portal.tasks import ping_task; "
                "print(ping_task.delay('embedded').get(timeout=60))",
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        process.terminate()
        process.wait(20)
    # then
    assert producer.returncode == 0, producer.stderr
    assert producer.stdout.strip() == "pong:embedded"
    assert any((tmp_path / "var" / "broker" / "results").iterdir())
    assert (tmp_path / "var" / "broker" / "control").is_dir()
