"""Helpers for the embedded (filesystem) broker used by the zero-setup demo."""

from pathlib import Path

from django.conf import settings


def ensure_embedded_broker_dirs() -> None:
    """Create the filesystem broker's queue/processed/results folders (no-op for Redis)."""
    if not settings.CELERY_BROKER_IS_EMBEDDED:
        return
    options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    folders = [options[name] for name in ("data_folder_in", "processed_folder", "control_folder")]
    if settings.CELERY_RESULT_BACKEND.startswith("file://"):
        folders.append(settings.CELERY_RESULT_BACKEND.removeprefix("file://"))
    for folder in folders:
        Path(folder).mkdir(parents=True, exist_ok=True)
