from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from keys.gateway import HsmError, build_gateway, get_gateway
from keys.hsm_role import AUDIT_SIGNER_ROLE_NAME, KEYWARDEN_ROLE_NAME
from keys.services.bootstrap import bootstrap_audit_signer, bootstrap_keywarden_role

DEFAULT_EMULATOR_ADMIN = "00000000-0000-0000-0000-00000000a001"


class Command(BaseCommand):
    help = (
        "As an HSM administrator, create Keywarden's least-privilege custom role and assign it "
        "to HSM_PRINCIPAL_ID at /keys; create the audit checkpoint key (as Keywarden) and the "
        "audit signer's sign-only role, assigned to HSM_AUDIT_PRINCIPAL_ID at /keys/<key> "
        "(idempotent). Emulator mode signs in as the emulator's "
        "initial administrator; azure mode uses DefaultAzureCredential (run it as an HSM admin)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--admin-object-id", default=DEFAULT_EMULATOR_ADMIN)

    def handle(self, *args, **options):
        gateway = build_gateway(object_id=options["admin_object_id"])
        try:
            assignment = bootstrap_keywarden_role(admin_gateway=gateway)
            key, signer = bootstrap_audit_signer(
                admin_gateway=gateway, key_manager_gateway=get_gateway()
            )
        except HsmError as exc:
            raise CommandError(f"HSM set-up failed: {exc.message}") from exc
        state = "assigned" if assignment else "already assigned"
        self.stdout.write(
            self.style.SUCCESS(
                f"{KEYWARDEN_ROLE_NAME} {state} to {settings.HSM_PRINCIPAL_ID} at "
                f"{settings.HSM_ROLE_SCOPE} on {settings.HSM_URL}"
            )
        )
        state = "assigned" if signer else "already assigned"
        self.stdout.write(
            self.style.SUCCESS(
                f"{AUDIT_SIGNER_ROLE_NAME} {state} to {settings.HSM_AUDIT_PRINCIPAL_ID} at "
                f"/keys/{key.name}"
            )
        )
