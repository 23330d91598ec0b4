"""`manage.py grant_app_role ROLE`: as the schema owner, after `migrate`, give the app's role
read/write on the app's tables and only SELECT, INSERT on the audit tables."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from portal.database_roles import grant_app_role


class Command(BaseCommand):
    help = (
        "Grant the application's database role what it needs: SELECT, INSERT, UPDATE, DELETE "
        "on the app's tables, only SELECT, INSERT on the append-only audit tables. Run as the "
        "owner after every migrate."
    )

    def add_arguments(self, parser):
        parser.add_argument("role", help="the PostgreSQL role web, workers and beat connect as")

    def handle(self, *args, role: str, **options):
        try:
            statements = grant_app_role(role)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        for statement in statements:
            self.stdout.write(statement)
        self.stdout.write(self.style.SUCCESS(f"{role}: SELECT, INSERT only on the audit tables."))
