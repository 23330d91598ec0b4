from celery import shared_task


@shared_task(name="portal.ping")
def ping_task(payload: str = "ping") -> str:
    """Round-trip probe: proves a worker consumes from the broker and returns results."""
    return f"pong:{payload}"
