"""Liveness (/healthz) and readiness (/readyz) probes with a JSON body naming each check.

Anyone (the orchestrator is anonymous) learns each check's status; only admins also learn the
details (the HSM's URL, Keywarden's rights, why a check failed). An unexpected error's text
stays in the log, for admins too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.db import connection
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from accounts.roles import Role
from core.errors import DomainError
from keys.gateway import HsmError
from keys.services.readiness import MissingPermissions
from portal import heartbeats

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


def check_workers() -> str:
    """Every queue has a worker whose heartbeat is fresh (portal.heartbeats)."""
    return heartbeats.check_workers(now=timezone.now())


def check_beat() -> str:
    """Beat ticked within the stale period."""
    return heartbeats.check_beat(now=timezone.now())


CHECKS: dict[str, Callable[[], str]] = {
    "database": check_database,
    "broker": check_broker,
    "hsm": check_hsm,
    "workers": check_workers,
    "beat": check_beat,
}


def run_checks() -> tuple[bool, dict[str, dict]]:
    """Run every readiness check; never raises. Returns (all ok, per-check results)."""
    results, healthy = {}, True
    for name, check in CHECKS.items():
        started = time.monotonic()
        try:
            detail, ok = check(), True
        except Exception as exc:  # a probe reports every failure instead of raising it
            logger.warning("health.check_failed", extra={"check": name}, exc_info=True)
            detail, ok = failure_detail(exc), False
        healthy &= ok
        results[name] = {
            "status": "ok" if ok else "fail",
            "detail": detail,
            "duration_ms": round((time.monotonic() - started) * 1000, 1),
        }
    return healthy, results


def failure_detail(exc: Exception) -> str:
    """Our own words for a failure we expect (the HSM's message, a missing right); for anything
    else only its type: the text of an arbitrary exception may hold hosts, paths or secrets."""
    if isinstance(exc, MissingPermissions):
        return str(exc)[:300]
    if isinstance(exc, HsmError | DomainError):
        return f"{type(exc).__name__}: {exc.message}"[:300]
    return f"{type(exc).__name__} (details in the log)"


def may_see_details(user) -> bool:
    """Admins watch the worker and HSM health (PRODUCT.md §1)."""
    return user.is_authenticated and user.has_role(Role.ADMIN)


@never_cache
@require_GET
def healthz(request):
    """The process is up and serving requests."""
    return JsonResponse({"status": "ok", "checks": {"process": {"status": "ok"}}})


@never_cache
@require_GET
def readyz(request):
    """Database, broker and HSM reachable, workers and beat beating: 200 when all pass, 503
    otherwise. Each check's status for anyone; its detail and duration for admins only."""
    healthy, results = run_checks()
    if not may_see_details(request.user):
        results = {name: {"status": result["status"]} for name, result in results.items()}
    body = {"status": "ok" if healthy else "fail", "checks": results}
    return JsonResponse(body, status=200 if healthy else 503)
