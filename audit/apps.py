from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit trail"

    def ready(self) -> None:
        # Connects the auth-signal receivers (sign-in, sign-out, failed sign-in).
        from audit import receivers  # noqa: F401
