"""`manage.py rehearse_recovery`: a recovery drill into a scratch HSM, recorded in the custody
register. `--transfer-key` prints the key the holders wrap their restore blob to; then
`--restore-blob` uploads their blob and checks the proof signature there."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.models import User
from audit.context import AuditContext
from core.errors import DomainError
from custody.drills import proof_from, run_rehearsal, start_rehearsal
from custody.models import RehearsalOutcome
from custody.rehearsal import scratch_transfer_key
from keys.gateway import HsmError


class Command(BaseCommand):
    help = (
        "Rehearse the recovery of the security domain into a scratch HSM: print its transfer "
        "key (--transfer-key), or upload the holders' restore blob and prove a key came back "
        "(a signature made before the drill verifies there); the outcome is recorded."
    )

    def add_arguments(self, parser):
        parser.add_argument("--scratch-url", required=True, help="the scratch HSM (not activated)")
        parser.add_argument("--transfer-key", action="store_true", help="print it and stop")
        parser.add_argument("--security-domain", type=Path, help="the security domain file")
        parser.add_argument("--restore-blob", type=Path, help="the holders' restore blob")
        parser.add_argument("--shares", type=int, help="how many holders' shares the blob used")
        parser.add_argument("--proof-key", help="name of a key that signed before the drill")
        parser.add_argument("--proof-version", help="its version")
        parser.add_argument("--algorithm", default="RS256", help="the signature algorithm")
        parser.add_argument("--digest", help="the signed digest, hex")
        parser.add_argument("--signature", help="the signature, base64")
        parser.add_argument("--recorded-by", help="the admin or custodian running the drill")

    def handle(self, *args, scratch_url: str, transfer_key: bool, **options):
        try:
            if transfer_key:
                self.stdout.write(json.dumps(scratch_transfer_key(scratch_url=scratch_url)))
                return
            ctx = AuditContext.system("rehearse_recovery")
            run = start_rehearsal(
                scratch_url=scratch_url,
                now=timezone.now(),
                ctx=ctx,
                queue=False,
                **self._drill(options),
            )
            rehearsal = run_rehearsal(str(run.pk), ctx=ctx).rehearsal
        except HsmError as exc:
            raise CommandError(f"The scratch HSM answered: {exc.message}") from exc
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        style = (
            self.style.SUCCESS
            if rehearsal.outcome == RehearsalOutcome.SUCCEEDED
            else self.style.ERROR
        )
        self.stdout.write(style(f"{rehearsal.get_outcome_display()}: {rehearsal.detail}"))

    def _drill(self, options) -> dict:
        needed = ["security_domain", "restore_blob", "shares", "proof_key", "proof_version"]
        needed += ["digest", "signature", "recorded_by"]
        missing = [f"--{name.replace('_', '-')}" for name in needed if options[name] is None]
        if missing:
            raise CommandError(f"A drill needs {', '.join(missing)}.")
        user = User.objects.filter(username=options["recorded_by"]).first()
        if user is None:
            raise CommandError(f"No user {options['recorded_by']}.")
        proof = proof_from(
            options["proof_key"],
            options["proof_version"],
            options["algorithm"],
            options["digest"],
            options["signature"],
        )
        return {
            "restore_blob": options["restore_blob"].read_text(),
            "file_value": options["security_domain"].read_text(),
            "shares_used": options["shares"],
            "proof": proof,
            "user": user,
        }
