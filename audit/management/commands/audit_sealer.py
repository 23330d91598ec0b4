"""`manage.py audit_sealer [--poll-seconds N] [--look-seconds S] [--exit-with-parent]`: the
audit sealer, in the foreground until SIGTERM or SIGINT (every Celery worker also starts one,
see README)."""

from __future__ import annotations

import os
import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand

from audit.sealer import run_sealer


class Command(BaseCommand):
    help = (
        "Seal committed audit events into the chain soon after they commit (one sealer leads, "
        "others stand by)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--poll-seconds",
            type=float,
            default=None,
            help="while standing by, try to lead this often (AUDIT_SEAL_SECONDS)",
        )
        parser.add_argument(
            "--look-seconds",
            type=float,
            default=None,
            help="while leading, look for unsealed events this often (AUDIT_SEAL_LOOK_SECONDS)",
        )
        parser.add_argument(
            "--exit-with-parent",
            action="store_true",
            help="stop when the process that started this one is gone (a worker's child)",
        )

    def handle(
        self,
        *args,
        poll_seconds: float | None,
        look_seconds: float | None,
        exit_with_parent: bool,
        **options,
    ):
        stop = threading.Event()
        for number in (signal.SIGTERM, signal.SIGINT):
            signal.signal(number, lambda *_: stop.set())
        self.stdout.write("audit sealer: started")  # from here on SIGTERM stops it cleanly
        self.stdout.flush()
        parent = os.getppid()
        run_sealer(
            stop=stop,
            poll_seconds=poll_seconds or settings.AUDIT_SEAL_SECONDS,
            look_seconds=look_seconds or settings.AUDIT_SEAL_LOOK_SECONDS,
            alive=(lambda: os.getppid() == parent) if exit_with_parent else (lambda: True),
            on_lead=self._report_lead,
        )

    def _report_lead(self) -> None:
        self.stdout.write("audit sealer: leading")
        self.stdout.flush()
