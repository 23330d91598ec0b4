"""`manage.py rotation_plan [--now ISO] [--team SLUG] [--json]`: what the rotation jobs would
do at that instant, without doing it."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand
from django.utils import timezone

from approvals.management.rotation_jobs import instant, rotation_plan, team_slug


class Command(BaseCommand):
    help = (
        "Print what the rotation jobs would do at --now (default: now) without doing it: "
        "schedule runs and retirements, HSM-policy rotations due, warnings, compliance changes, "
        "overdue."
    )

    def add_arguments(self, parser):
        parser.add_argument("--now", help="ISO-8601 instant, e.g. 2027-12-01T09:00:00+00:00")
        parser.add_argument("--team", help="only this team's keys (slug)")
        parser.add_argument(
            "--json", action="store_true", dest="as_json", help="machine-readable output"
        )

    def handle(self, *args, now, team, as_json: bool, **options):
        plan = rotation_plan(now=instant(now, timezone.now()), team=team_slug(team))
        if as_json:
            self.stdout.write(json.dumps(plan, indent=2, sort_keys=True))
            return
        self.stdout.write(f"Rotation plan at {plan['now']}" + (f" for {team}" if team else ""))
        for work in plan["schedules"]:
            self.stdout.write(f"  schedule  {work['key']}: {work['kind']} ({work['detail']})")
        for item in plan["hsm_policy_rotations"]:
            self.stdout.write(
                f"  hsm       {item['key']}: rotated by its policy ({item['due_on']})"
            )
        for warning in plan["warnings"]:
            self.stdout.write(
                f"  warn      {warning['key']}: {warning['kind']} {warning['threshold']}"
            )
        for change in plan["compliance_changes"]:
            self.stdout.write(f"  state     {change['key']}: {change['from']} -> {change['to']}")
        self.stdout.write(f"Overdue: {', '.join(plan['overdue']) or 'none'}")
