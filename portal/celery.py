"""The Celery application: configured from Django settings (CELERY_* names)."""

import os

from celery import Celery
from celery.signals import setup_logging, worker_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("keywarden")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_init.connect
def _prepare_embedded_broker(**_kwargs) -> None:
    """The filesystem broker needs its folders before the first message moves."""
    from portal.broker import ensure_embedded_broker_dirs

    ensure_embedded_broker_dirs()


@setup_logging.connect
def _use_django_logging(**_kwargs) -> None:
    """Workers and beat log through Django's LOGGING (structured), not Celery's own setup."""
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)
