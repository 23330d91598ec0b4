"""Jobs that run one at a time (an inventory sync, an audit verification): a row per run whose
model has a partial unique constraint on status="running", a heartbeat the run keeps fresh,
and `finished_at` / `error` for how it ended."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from django.db import IntegrityError, models, transaction

RUNNING, FAILED = "running", "failed"
ABANDONED = "abandoned (no heartbeat)"


def start_exclusive_run(
    model: type[models.Model],
    *,
    now: datetime,
    stale_after: timedelta,
    already_running: type[Exception],
    **fields,
):
    """Create the one running row of `model`, after marking FAILED a running row without a
    heartbeat for `stale_after` (its worker died). Raises `already_running` while another run
    is live: the database refuses a second running row, whatever the timing. Each step in a
    short transaction of its own."""
    with transaction.atomic():
        model.objects.filter(status=RUNNING, heartbeat_at__lt=now - stale_after).update(
            status=FAILED, finished_at=now, error=ABANDONED
        )
    try:
        with transaction.atomic():
            return model.objects.create(
                id=uuid.uuid4(), started_at=now, heartbeat_at=now, status=RUNNING, **fields
            )
    except IntegrityError as exc:
        raise already_running() from exc
