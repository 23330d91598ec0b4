"""The zero-setup demo: HSM emulator (seeded with aged demo keys when new), Keywarden's HSM
role, a Celery worker and beat, and the web server, on SQLite and the embedded broker. Ctrl-C
stops everything."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from audit.context import AuditContext
from hsm_emulator.client.launcher import EmulatorProcess
from keys.gateway import HsmError, build_gateway, get_gateway
from keys.management.commands.bootstrap_hsm import DEFAULT_EMULATOR_ADMIN
from keys.services.sync import sync_inventory
from portal.demo import DEMO_USERS
from portal.demo_keys import DEMO_HISTORY, seed_demo_hsm
from portal.demo_recovery import seed_demo_recovery

ROOT = Path(settings.BASE_DIR)


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--addr", default="127.0.0.1:8000", help="Web server address.")

    def handle(self, *args, **options):
        if not settings.DEBUG or settings.HSM_CREDENTIAL != "emulator":
            raise CommandError("rundemo is for the demo (DEBUG=true, HSM_CREDENTIAL=emulator).")
        logs = settings.DATA_DIR / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        hsm = self.start_emulator()
        children: list[subprocess.Popen] = []
        try:
            self.seed_keys(hsm)
            call_command("bootstrap_hsm")
            self.first_sync()
            self.seed_recovery()
            children += [
                self.spawn(
                    "worker",
                    logs,
                    "-m",
                    "celery",
                    "-A",
                    "portal",
                    "worker",
                    "--loglevel",
                    "INFO",
                    "--concurrency",
                    "2",
                    "--queues",
                    ",".join(settings.CELERY_WORKER_QUEUES),
                ),
                self.spawn(
                    "beat", logs, "-m", "celery", "-A", "portal", "beat", "--loglevel", "INFO"
                ),
                self.spawn(None, logs, "manage.py", "runserver", options["addr"], "--noreload"),
            ]
            self.banner(options["addr"], logs)
            self.wait(children)
        finally:
            for child in children:
                child.send_signal(signal.SIGTERM)
            for child in children:
                child.wait(20)
            hsm.stop()

    def start_emulator(self) -> EmulatorProcess:
        """The emulator on HSM_URL's port with its state (and CA) under the demo data folder."""
        port = urlparse(settings.HSM_URL).port or 8443
        data_dir = Path(settings.HSM_CA_FILE).parent
        self.stdout.write(f"Starting the Managed HSM emulator on {settings.HSM_URL} ...")
        try:
            # A new demo HSM starts in the past so that `seed_keys` can age its keys.
            hsm = EmulatorProcess(data_dir, port=port, clock_start_behind=DEMO_HISTORY)
            return hsm.start()
        except RuntimeError as exc:
            raise CommandError(
                f"The HSM emulator did not start (is port {port} free?): {exc}"
            ) from exc

    def seed_keys(self, hsm: EmulatorProcess) -> None:
        """Aged demo keys in a new demo HSM (before the audit key, which is made at real time);
        an HSM from an earlier start is left as it is."""
        try:
            names = seed_demo_hsm(
                admin_gateway=build_gateway(object_id=DEFAULT_EMULATOR_ADMIN),
                gateway=get_gateway(),
                clock=hsm,
                now=timezone.now(),
            )
        except HsmError as exc:
            raise CommandError(f"Seeding the demo keys failed: {exc.message}") from exc
        if names:
            self.stdout.write(f"Seeded {len(names)} demo keys, aged up to three years.")

    def first_sync(self) -> None:
        try:
            run = sync_inventory(ctx=AuditContext.system("rundemo"), trigger="rundemo")
        except HsmError as exc:
            raise CommandError(f"First inventory sync failed: {exc.message}") from exc
        self.stdout.write(f"Inventory: {run.keys_seen} keys in the HSM.")

    def seed_recovery(self) -> None:
        """The day's full backup through its request, the posture judged, the demo HSM's
        purge protection (off for the purge request) accepted as a risk."""
        try:
            done = seed_demo_recovery(now=timezone.now())
        except HsmError as exc:
            raise CommandError(
                f"Seeding the demo's recovery posture failed: {exc.message}"
            ) from exc
        for step in done:
            self.stdout.write(f"Demo recovery: {step}.")

    def spawn(self, name: str | None, logs: Path, *argv: str) -> subprocess.Popen:
        """A child process; named ones log to a file, the web server to this console."""
        output = (logs / f"{name}.log").open("ab") if name else None
        return subprocess.Popen(  # noqa: S603 - our own interpreter and modules
            [sys.executable, *argv],
            cwd=ROOT,
            stdout=output,
            stderr=subprocess.STDOUT if output else None,
        )

    def banner(self, addr: str, logs: Path) -> None:
        users = ", ".join(f"{u.username} ({', '.join(u.roles) or 'requester'})" for u in DEMO_USERS)
        self.stdout.write(
            self.style.SUCCESS(
                f"\nKeywarden demo at http://{addr}/  —  sign in as {users}\n"
                f"Password: the KEYWARDEN_DEMO_PASSWORD setting (default keywarden-demo).\n"
                f"Worker and beat logs: {logs}.  Ctrl-C stops everything.\n"
            )
        )

    def wait(self, children: list[subprocess.Popen]) -> None:
        try:
            while all(child.poll() is None for child in children):
                time.sleep(0.5)
        except KeyboardInterrupt:
            self.stdout.write("\nStopping the demo ...")
            return
        failed = [c.args[1:4] for c in children if c.poll() is not None]
        raise CommandError(f"A demo process stopped: {failed}; see the logs.")
