"""`manage.py audit_verify`: recompute the audit chain; exit status 1 when it was tampered with."""

from __future__ import annotations

import json
import sys
import time

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from audit.chain import ChainReport
from audit.models import AuditEvent
from audit.selectors import verify_chain

EXIT_TAMPERED = 1


class Command(BaseCommand):
    help = "Verify the audit trail's hash chain (every hash, link and sequence number)."

    def add_arguments(self, parser):
        parser.add_argument("--chunk-size", type=int, default=5000, help="rows per fetch")
        parser.add_argument(
            "--json", action="store_true", dest="as_json", help="print the report as JSON"
        )

    def handle(self, *args, chunk_size: int, as_json: bool, **options):
        started = time.perf_counter()
        # A bar only on a terminal: logs and CI get the summary alone.
        on_terminal = sys.stderr.isatty()
        with tqdm(
            total=AuditEvent.objects.count() if on_terminal else None,
            unit="event",
            unit_scale=True,
            desc="verifying",
            disable=not on_terminal,
        ) as bar:
            report = verify_chain(chunk_size=chunk_size, on_progress=bar.update)
        elapsed = time.perf_counter() - started
        if as_json:
            self.stdout.write(json.dumps(report.as_dict(), indent=2))
        else:
            self.stdout.write(_summary(report, elapsed))
        broken = report.first_broken
        if broken is not None:
            raise CommandError(
                f"Audit chain broken at event #{broken.sequence}: {broken.reason} "
                f"({broken.detail})",
                returncode=EXIT_TAMPERED,
            )
        if not as_json:
            self.stdout.write(self.style.SUCCESS("Audit chain valid."))


def _summary(report: ChainReport, elapsed: float) -> str:
    rate = report.events_checked / elapsed if elapsed else 0.0
    head = f" Head #{report.head_sequence} {report.head_hash}." if report.head_sequence else ""
    return (
        f"Checked {report.events_checked} events in {elapsed:.2f} s ({rate:,.0f} events/s).{head}"
    )
