import sys

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from audit.context import AuditContext
from keys.gateway import HsmError
from keys.services.sync import SyncAlreadyRunning, sync_inventory


class Command(BaseCommand):
    help = "Read the whole HSM (keys, versions, policies, deleted keys, role assignments) now."

    def add_arguments(self, parser):
        parser.add_argument("--full", action="store_true", help="Re-read unchanged keys too.")

    def handle(self, *args, **options):
        bar = tqdm(unit=" keys", disable=not sys.stderr.isatty(), desc="Syncing")
        try:
            run = sync_inventory(
                ctx=AuditContext.system("manage.py sync_inventory"),
                full=options["full"],
                trigger="command",
                progress=bar.update,
            )
        except SyncAlreadyRunning as exc:
            raise CommandError(exc.message) from exc
        except HsmError as exc:
            raise CommandError(f"Sync failed: {exc.message}") from exc
        finally:
            bar.close()
        self.stdout.write(
            self.style.SUCCESS(
                f"Synced {run.keys_seen} keys ({run.keys_new} new), {run.keys_deleted} deleted, "
                f"{run.keys_purged} purged, {run.assignments_seen} role assignments; "
                f"{run.drift_found} drift findings."
            )
        )
