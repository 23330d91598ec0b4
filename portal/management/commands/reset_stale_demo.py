"""`make demo` runs this before `migrate`: a demo database made before the apps were re-layered
(users and teams moved from `portal` to `accounts`, migrations started afresh) cannot be
migrated, so the demo's state under KEYWARDEN_DATA_DIR is reset instead. Never touches a
database other than the demo's SQLite file."""

from __future__ import annotations

import shutil
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connection
from django.db.migrations.loader import MigrationLoader

# Apps whose migrations were started afresh: a database that applied one of their migrations
# that no longer exists on disk is stale (`portal` later gained new migrations of its own).
RETIRED_MIGRATION_APPS = ("portal",)


def is_stale_demo_database() -> bool:
    """True when the demo's SQLite database recorded a retired app's migration that is gone."""
    if connection.vendor != "sqlite" or "django_migrations" not in (
        connection.introspection.table_names()
    ):
        return False
    on_disk = set(MigrationLoader(None, ignore_no_migrations=True).disk_migrations)
    with connection.cursor() as cursor:
        placeholders = ", ".join("%s" for _ in RETIRED_MIGRATION_APPS)
        cursor.execute(
            f"SELECT app, name FROM django_migrations WHERE app IN ({placeholders})",  # noqa: S608
            RETIRED_MIGRATION_APPS,
        )
        return any(tuple(row) not in on_disk for row in cursor.fetchall())


class Command(BaseCommand):
    help = "Reset the demo's data directory if its database predates the current migrations."

    def handle(self, *args, **options):
        if not is_stale_demo_database():
            return
        database = Path(settings.DATABASES["default"]["NAME"])
        connection.close()
        for path in (database, *database.parent.glob(f"{database.name}-*")):
            path.unlink(missing_ok=True)
        # Queued tasks and emulator keys belong to the old database's requests: start clean.
        for folder in (settings.BROKER_DIR, settings.DATA_DIR / "hsm"):
            shutil.rmtree(folder, ignore_errors=True)
        # So are the audit checkpoints: kept, they would report the old trail as removed.
        if settings.AUDIT_CHECKPOINT_FILE:
            Path(settings.AUDIT_CHECKPOINT_FILE).unlink(missing_ok=True)
        self.stdout.write(
            self.style.WARNING(
                f"Reset the demo data in {settings.DATA_DIR}: it was made by an older Keywarden "
                "whose migrations were started afresh."
            )
        )
