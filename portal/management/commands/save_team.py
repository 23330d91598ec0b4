from uuid import UUID

from django.core.management.base import BaseCommand, CommandError

from accounts.services import save_team
from audit.context import AuditContext
from core.errors import Invalid


class Command(BaseCommand):
    help = "Create a team or change its name, key prefix or Entra ID group (audited)."

    def add_arguments(self, parser):
        parser.add_argument("--slug", required=True)
        parser.add_argument("--name", required=True)
        parser.add_argument("--key-prefix", required=True, help="e.g. pay- (ends with a dash)")
        parser.add_argument("--entra-group-id", type=UUID, default=None)

    def handle(self, *args, **options):
        try:
            team = save_team(
                slug=options["slug"],
                name=options["name"],
                key_prefix=options["key_prefix"],
                entra_group_id=options["entra_group_id"],
                ctx=AuditContext.system("manage.py save_team"),
            )
        except Invalid as error:
            problems = "; ".join(f"{k}: {' '.join(v)}" for k, v in error.errors.items())
            raise CommandError(f"{error.message} {problems}") from error
        self.stdout.write(self.style.SUCCESS(f"Team {team.slug}: {team.name} ({team.key_prefix}*)"))
