"""`manage.py audit_export --format csv|jsonl [--output FILE]`: the whole trail, streamed."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand

from audit import exports
from audit.models import AuditEvent


class Command(BaseCommand):
    help = "Export every audit event, oldest first, as CSV or JSON Lines (constant memory)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--format", dest="export_format", choices=sorted(exports.FORMATS), default="jsonl"
        )
        parser.add_argument("--output", type=Path, help="file to write (default: stdout)")

    def handle(self, *args, export_format: str, output: Path | None, **options):
        chunks = exports.write_lines(AuditEvent.objects.all(), export_format)
        if output is None:
            for text in chunks:
                self.stdout.write(text, ending="")
            return
        with output.open("w", encoding="utf-8", newline="") as file:
            for text in chunks:
                file.write(text)
        self.stderr.write(f"Wrote the audit trail to {output}")
