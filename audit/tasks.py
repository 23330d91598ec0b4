"""The audit trail's periodic job: the sealer's backstop (writers seal after their commit)."""

from __future__ import annotations

from celery import shared_task

from audit.services import seal_events


@shared_task(name="audit.seal_events")
def seal_events_task() -> dict:
    """Seal whatever committed events no writer sealed (its try found the lock busy, or it
    died between commit and seal); waits for a sealer at work. Safe to run late or twice."""
    return {"sealed": seal_events(wait=True)}
