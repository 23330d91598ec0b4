"""`manage.py run_rotation_jobs [--now ISO]`: run the rotation jobs as beat would at that
instant (what `rotation_plan` printed)."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand
from django.utils import timezone

from approvals.management.rotation_jobs import instant, run_rotation_jobs


class Command(BaseCommand):
    help = (
        "Run the rotation jobs at --now (default: now): schedule runs, compliance, warnings, "
        "the day's compliance snapshot."
    )

    def add_arguments(self, parser):
        parser.add_argument("--now", help="ISO-8601 instant, e.g. 2027-12-01T09:00:00+00:00")

    def handle(self, *args, now, **options):
        self.stdout.write(
            json.dumps(
                run_rotation_jobs(now=instant(now, timezone.now())), indent=2, sort_keys=True
            )
        )
