"""`manage.py check_liveness beat|worker [--name NAME]`: exit 0 while that process's heartbeat is
fresh, 1 naming why not (a container healthcheck; /readyz reads the same rows)."""

from __future__ import annotations

import socket

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from portal.heartbeats import process_beats
from portal.models import ProcessKind


class Command(BaseCommand):
    help = "Exit 0 while the named worker's or beat's heartbeat is fresh, 1 otherwise."

    def add_arguments(self, parser):
        parser.add_argument("kind", choices=ProcessKind.values)
        parser.add_argument(
            "--name", default="", help="the process's heartbeat name (default: KIND@<this host>)"
        )

    def handle(self, *args, kind: str, name: str, **options):
        name = name or f"{kind}@{socket.gethostname()}"
        beat = next(
            (b for b in process_beats(now=timezone.now()) if (b.kind, b.name) == (kind, name)), None
        )
        if beat is None:
            raise CommandError(f"{kind} {name}: no heartbeat yet")
        if not beat.is_live:
            raise CommandError(f"{kind} {name}: last heartbeat {beat.age_seconds:.0f} s ago, stale")
        self.stdout.write(f"{kind} {name}: last heartbeat {beat.age_seconds:.0f} s ago")
