"""Liveness (/healthz) and readiness (/readyz) probes with a JSON body naming each check."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)
CHECK_TIMEOUT_SECONDS = 3


def check_database() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return f"{connection.vendor} reachable"


def check_broker() -> str:
    from portal.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=CHECK_TIMEOUT_SECONDS)
        return f"{conn.transport_cls} reachable"


def check_hsm() -> str:
    """Reachable, authenticated, and Keywarden's identity holds exactly its custom role."""
    from keys.services.readiness import check_hsm as check

    return check()


CHECKS: dict[str, Callable[[], str]] = {
    "database": check_database,
    "broker": check_broker,
    "hsm": check_hsm,
}


def run_checks() -> tuple[bool, dict[str, dict]]:
    """Run every readiness check; never raises. Returns (all ok, per-check results)."""
    results, healthy = {}, True
    for name, check in CHECKS.items():
        started = time.monotonic()
        try:
            detail, ok = check(), True
        except Exception as exc:  # a probe reports every failure instead of raising it
            logger.warning("health.check_failed", extra={"check": name, "error": repr(exc)})
            detail, ok = f"{type(exc).__name__}: {exc}"[:300], False
        healthy &= ok
        results[name] = {
            "status": "ok" if ok else "fail",
            "detail": detail,
            "duration_ms": round((time.monotonic() - started) * 1000, 1),
        }
    return healthy, results


@never_cache
@require_GET
def healthz(request):
    """The process is up and serving requests."""
    return JsonResponse({"status": "ok", "checks": {"process": {"status": "ok"}}})


@never_cache
@require_GET
def readyz(request):
    """Database, broker and HSM reachable: 200 when all pass, 503 otherwise."""
    healthy, results = run_checks()
    body = {"status": "ok" if healthy else "fail", "checks": results}
    return JsonResponse(body, status=200 if healthy else 503)
