from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Keywarden portal"

    def ready(self) -> None:
        from portal.broker import ensure_embedded_broker_dirs

        # Producers (web, beat) write into the embedded broker's folders too.
        ensure_embedded_broker_dirs()
