"""`manage.py save_service_account`: register an Entra ID application (pipeline, service
principal) as a Keywarden service account with its teams and roles (audited)."""

from uuid import UUID

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Team
from accounts.roles import GRANTED_ROLES
from accounts.services import save_service_account
from audit.context import AuditContext
from core.errors import Invalid


class Command(BaseCommand):
    help = (
        "Create or change the service account of an Entra ID application: the object id of its "
        "service principal (the `oid` of its app-only tokens), a username, its teams and roles. "
        "Teams and roles given replace the account's current ones (audited)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--object-id", type=UUID, required=True)
        parser.add_argument("--name", required=True, help="username, e.g. svc-payments-pipeline")
        parser.add_argument("--display-name", default="")
        parser.add_argument("--team", action="append", default=[], help="team slug (repeatable)")
        parser.add_argument(
            "--role",
            action="append",
            default=[],
            choices=[role.value for role in GRANTED_ROLES],
            help="granted portal role (repeatable); ignored while ENTRA_APP_ROLES maps the "
            "token's app roles instead",
        )
        parser.add_argument("--disable", action="store_true", help="refuse its tokens")

    def handle(self, *args, **options):
        slugs = sorted(set(options["team"]))
        teams = list(Team.objects.filter(slug__in=slugs))
        unknown = sorted(set(slugs) - {team.slug for team in teams})
        if unknown:
            raise CommandError(f"No such team: {', '.join(unknown)}")
        try:
            account = save_service_account(
                object_id=options["object_id"],
                username=options["name"],
                display_name=options["display_name"] or options["name"],
                teams=teams,
                roles=options["role"],
                is_active=not options["disable"],
                ctx=AuditContext.system("manage.py save_service_account"),
            )
        except Invalid as error:
            problems = "; ".join(f"{k}: {' '.join(v)}" for k, v in error.errors.items())
            raise CommandError(f"{error.message} {problems}") from error
        access = ", ".join([*(f"team {t.slug}" for t in teams), *sorted(account.roles)])
        state = "" if account.is_active else " (disabled)"
        self.stdout.write(
            self.style.SUCCESS(
                f"Service account {account.username}{state} for object id "
                f"{account.entra_object_id}: {access or 'no access'}"
            )
        )
