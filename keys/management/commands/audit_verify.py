"""`manage.py audit_verify`: recompute the audit chain and check it against every signed
checkpoint (table and file) and an optional head kept elsewhere; exit status 1 on any problem.

It lives in `keys`, not `audit`: checkpoint signatures are checked with the checkpoint key's
public key, read from the HSM through the gateway, which `audit` may not import.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from audit.chain import ChainReport
from audit.models import AuditCheckpoint, AuditEvent
from audit.trail_selectors import TrailReport
from keys.gateway import HsmError
from keys.services.audit_checkpoints import verify_audit_trail

EXIT_TAMPERED = 1
_HEAD = re.compile(r"(\d+):([0-9a-f]{64})")


class Command(BaseCommand):
    help = (
        "Verify the audit trail: every hash, link and sequence number of the chain, every "
        "checkpoint's signature and what it covers, and --expect-head SEQ:HASH if given."
    )

    def add_arguments(self, parser):
        parser.add_argument("--chunk-size", type=int, default=5000, help="rows per fetch")
        parser.add_argument(
            "--processes",
            type=_processes,
            default=os.cpu_count() or 1,
            help="check ranges of the chain in this many processes (default: one per CPU; "
            "ranges under 50,000 events are not split)",
        )
        parser.add_argument(
            "--json", action="store_true", dest="as_json", help="print the report as JSON"
        )
        parser.add_argument(
            "--expect-head",
            metavar="SEQ:HASH",
            help="a head noted earlier (e.g. from a previous run): event SEQ must have HASH",
        )
        parser.add_argument(
            "--checkpoint-file",
            metavar="PATH",
            help="the checkpoint JSON Lines file to compare (default AUDIT_CHECKPOINT_FILE; '' "
            "for none)",
        )

    def handle(self, *args, chunk_size: int, as_json: bool, **options):
        expect_head = _parse_head(options["expect_head"])
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
            try:
                report = verify_audit_trail(
                    expect_head=expect_head,
                    file_path=options["checkpoint_file"],
                    chunk_size=chunk_size,
                    on_progress=bar.update,
                    processes=options["processes"],
                )
            except HsmError as exc:
                raise CommandError(
                    f"Cannot read the checkpoint key from the HSM: {exc.message}",
                    returncode=EXIT_TAMPERED,
                ) from exc
        self._print(report, time.perf_counter() - started, as_json, extended=bool(expect_head))
        _fail_on_problems(report)
        if not as_json:
            self.stdout.write(self.style.SUCCESS("Audit chain valid."))

    def _print(self, report: TrailReport, elapsed: float, as_json: bool, *, extended: bool):
        # Without checkpoints or an expected head, the output is the chain's alone, as before.
        extended = extended or report.checkpoints_checked > 0
        if as_json:
            answer = report.as_dict() if extended else report.chain.as_dict()
            self.stdout.write(json.dumps(answer, indent=2))
            return
        self.stdout.write(_summary(report.chain, elapsed))
        if extended:
            self.stdout.write(_checkpoint_summary(report))
        for problem in report.problems:
            self.stdout.write(f"PROBLEM {problem.rule}: {problem.detail}")


def _parse_head(text: str | None) -> tuple[int, str] | None:
    if text is None:
        return None
    match = _HEAD.fullmatch(text.strip().lower())
    if match is None:
        raise CommandError("--expect-head must look like SEQ:HASH (a number, 64 hex digits)")
    return int(match.group(1)), match.group(2)


def _fail_on_problems(report: TrailReport) -> None:
    broken = report.chain.first_broken
    if broken is not None:
        raise CommandError(
            f"Audit chain broken at event #{broken.sequence}: {broken.reason} ({broken.detail})",
            returncode=EXIT_TAMPERED,
        )
    if report.problems:
        first = report.problems[0]
        more = f" (and {len(report.problems) - 1} more)" if len(report.problems) > 1 else ""
        raise CommandError(
            f"Audit trail check failed: {first.rule}: {first.detail}{more}",
            returncode=EXIT_TAMPERED,
        )


def _summary(report: ChainReport, elapsed: float) -> str:
    rate = report.events_checked / elapsed if elapsed else 0.0
    head = f" Head #{report.head_sequence} {report.head_hash}." if report.head_sequence else ""
    return (
        f"Checked {report.events_checked} events in {elapsed:.2f} s ({rate:,.0f} events/s).{head}"
    )


def _checkpoint_summary(report: TrailReport) -> str:
    latest = AuditCheckpoint.objects.order_by("-number").first()
    where = f" Latest: {latest.number} at event #{latest.head_sequence}." if latest else ""
    return f"Checked {report.checkpoints_checked} signed checkpoints.{where}"


def _processes(text: str) -> int:
    """--processes: a whole number from 1 to 64."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError(f"must be 1 to 64, got {value}")
    return value
