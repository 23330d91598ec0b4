"""A real Celery worker process for tests: same code, settings and broker as production."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from email import message_from_string
from email.message import EmailMessage
from email.policy import default as email_policy
from pathlib import Path

from celery import Celery
from django.conf import settings

from portal.celery import app as celery_app

ROOT = Path(__file__).resolve().parents[2]


def database_url_for_subprocess() -> str:
    """The URL of the database this test session uses (the test database once set up)."""
    db = settings.DATABASES["default"]
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"


def subprocess_env(**overrides: str) -> dict[str, str]:
    """Environment for a portal subprocess that shares this test session's DB, broker and HSM."""
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="portal.settings",
        DATABASE_URL=database_url_for_subprocess(),
        CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
        CELERY_RESULT_BACKEND=settings.CELERY_RESULT_BACKEND,
        CELERY_QUEUE=settings.CELERY_TASK_DEFAULT_QUEUE,
        KEYWARDEN_DATA_DIR=str(settings.DATA_DIR),
        HSM_URL=settings.HSM_URL,
        HSM_CREDENTIAL=settings.HSM_CREDENTIAL,
        HSM_CA_FILE=settings.HSM_CA_FILE,
        HSM_PRINCIPAL_ID=settings.HSM_PRINCIPAL_ID,
        PYTHONUNBUFFERED="1",
    )
    env.update(overrides)
    return env


def mail_text(message: EmailMessage) -> str:
    """The plain-text body of a mail (notifications are text with an HTML alternative)."""
    return message.get_body(preferencelist=("plain",)).get_content()


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:  # exited meanwhile
        return b""


class LiveWorker:
    """Start, stop, kill and restart a `celery worker` subprocess (prefork, acks late)."""

    def __init__(
        self,
        *,
        log_dir: Path,
        concurrency: int = 2,
        env: dict | None = None,
        queues: tuple[str, ...] | None = None,
    ) -> None:
        self.queues = queues or settings.CELERY_WORKER_QUEUES
        self.log_path = Path(log_dir) / "worker.log"
        self.mail_dir = Path(log_dir) / "mail"
        self.concurrency = concurrency
        self.extra_env = env or {}
        # A worker on another broker is pinged through an app of its own. Celery prefers the
        # CELERY_BROKER_URL environment variable to broker_url, but not to the read/write URLs.
        self.broker_url = self.extra_env.get("CELERY_BROKER_URL")
        self.control_app = celery_app
        if self.broker_url:
            self.control_app = Celery("keywarden-test-control", set_as_current=False)
            self.control_app.conf.broker_read_url = self.broker_url
            self.control_app.conf.broker_write_url = self.broker_url
        self.process: subprocess.Popen | None = None
        self.hostname = ""

    def start(self, timeout: float = 60) -> None:
        if self.broker_url is None:
            self.purge()  # messages left by an aborted earlier run or test must not run
        self.hostname = f"kw-test-{uuid.uuid4().hex[:8]}@%h"
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "portal",
                "worker",
                "--loglevel",
                "INFO",
                "--pool",
                "prefork",
                "--concurrency",
                str(self.concurrency),
                "--hostname",
                self.hostname,
                "--queues",
                ",".join(self.queues),
                "--without-gossip",
                "--without-mingle",
            ],
            cwd=ROOT,
            env=subprocess_env(
                EMAIL_BACKEND="django.core.mail.backends.filebased.EmailBackend",
                EMAIL_FILE_PATH=str(self.mail_dir),
                **self.extra_env,
            ),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so kill() reaches the children
        )
        try:
            self.wait_ready(timeout)
        except RuntimeError:
            self.kill()  # never leave a half-started worker behind
            raise

    def wait_ready(self, timeout: float) -> None:
        node = self.hostname.replace("%h", os.uname().nodename)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"worker exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            if self.control_app.control.ping(destination=[node], timeout=1.0):
                return
        raise RuntimeError(f"worker did not answer ping within {timeout}s:\n{self.log_tail()}")

    def wait_idle(self, timeout: float = 30) -> bool:
        """Wait until this worker runs and holds no task and its queues are empty, seen twice
        in a row: work a test set off (a mail after success, a redispatch) must not touch the
        database while the test's flush truncates it. False when still busy at `timeout`."""
        if self.process is None or self.process.poll() is not None:
            return True
        node = self.hostname.replace("%h", os.uname().nodename)
        deadline = time.monotonic() + timeout
        quiet = 0
        while time.monotonic() < deadline and quiet < 2:
            quiet = quiet + 1 if self._is_idle(node) else 0
            time.sleep(0.1)
        return quiet >= 2

    def _is_idle(self, node: str) -> bool:
        with self.control_app.connection_for_read() as connection:
            client = connection.default_channel.client
            if any(client.llen(queue) for queue in self.queues):
                return False
        inspect = self.control_app.control.inspect(destination=[node], timeout=1.0)
        for held in (inspect.active(), inspect.reserved()):
            if held is None or any(held.values()):
                return False
        return True

    def purge(self) -> None:
        """Drop every message waiting in this worker's queues (all of them, not only the
        default one Celery's own purge knows before a task was routed elsewhere)."""
        with self.control_app.connection_for_write() as connection:
            connection.default_channel.client.delete(*self.queues)

    def restart(self, timeout: float = 60) -> None:
        """Kill the worker and its pool, drop what waits in its queues and start afresh."""
        self.kill()
        self.start(timeout)

    def child_pids(self) -> list[int]:
        """PIDs of the prefork pool processes (the ones executing tasks), not the audit sealer
        every worker also starts as a child (`manage.py audit_sealer`)."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [
            int(pid)
            for pid in children.read_text().split()
            if b"audit_sealer" not in _cmdline(int(pid))
        ]

    def stop(self, timeout: float = 20) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL the worker and its pool: a crash, not a shutdown."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def sent_mail(self) -> list[EmailMessage]:
        """Every email the worker sent (Django's file backend, one file per connection)."""
        messages = []
        for path in sorted(self.mail_dir.glob("*.log")):
            for chunk in path.read_text().split("-" * 79):
                if chunk.strip():
                    messages.append(message_from_string(chunk.strip(), policy=email_policy))
        return messages

    def wait_for_mail(
        self, subject_prefix: str, *, to: str = "", about: str = "", timeout: float = 30
    ) -> EmailMessage:
        """The first email whose subject starts with `subject_prefix`, sent to `to`, whose
        body mentions `about` (e.g. a request id)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in self.sent_mail():
                if (
                    message["Subject"].startswith(subject_prefix)
                    and to in message["To"]
                    and about in mail_text(message)
                ):
                    return message
            time.sleep(0.1)
        subjects = [m["Subject"] for m in self.sent_mail()]
        raise AssertionError(f"no mail {subject_prefix!r} to {to!r} within {timeout}s: {subjects}")

    def log_tail(self, lines: int = 60) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])
