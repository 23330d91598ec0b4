"""`manage.py audit_checkpoint`: sign a checkpoint of the audit chain's head now."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from audit.services import ChainBroken
from keys.gateway import HsmError
from keys.services.audit_checkpoints import checkpoint_audit_trail


class Command(BaseCommand):
    help = (
        "Sign a checkpoint of the audit chain's head with the audit signer identity (what the "
        "beat job does when one is due); --if-due to sign only when it is due."
    )

    def add_arguments(self, parser):
        parser.add_argument("--if-due", action="store_true", help="only when one is due")

    def handle(self, *args, if_due: bool, **options):
        try:
            checkpoint = checkpoint_audit_trail(now=timezone.now(), force=not if_due)
        except ChainBroken as exc:
            raise CommandError(f"No checkpoint signed: the chain is broken at {exc}") from exc
        except HsmError as exc:
            raise CommandError(f"No checkpoint signed: {exc.message}") from exc
        if checkpoint is None:
            self.stdout.write("No checkpoint needed: the head has one already.")
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"Checkpoint {checkpoint.number} signed: event #{checkpoint.head_sequence} "
                f"{checkpoint.head_hash} with {checkpoint.key_id}"
            )
        )
