from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from keys.gateway import HsmError, build_gateway
from keys.hsm_role import KEYWARDEN_ROLE_NAME
from keys.services.bootstrap import bootstrap_keywarden_role

DEFAULT_EMULATOR_ADMIN = "00000000-0000-0000-0000-00000000a001"


class Command(BaseCommand):
    help = (
        "As an HSM administrator, create Keywarden's least-privilege custom role and assign it "
        "to HSM_PRINCIPAL_ID at /keys (idempotent). Emulator mode signs in as the emulator's "
        "initial administrator; azure mode uses DefaultAzureCredential (run it as an HSM admin)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--admin-object-id", default=DEFAULT_EMULATOR_ADMIN)

    def handle(self, *args, **options):
        gateway = build_gateway(object_id=options["admin_object_id"])
        try:
            assignment = bootstrap_keywarden_role(admin_gateway=gateway)
        except HsmError as exc:
            raise CommandError(f"HSM set-up failed: {exc.message}") from exc
        state = "assigned" if assignment else "already assigned"
        self.stdout.write(
            self.style.SUCCESS(
                f"{KEYWARDEN_ROLE_NAME} {state} to {settings.HSM_PRINCIPAL_ID} at "
                f"{settings.HSM_ROLE_SCOPE} on {settings.HSM_URL}"
            )
        )
