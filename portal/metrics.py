"""GET /metrics: Prometheus text format, django-prometheus's HTTP and database series plus
Keywarden's own, read at scrape time.

Gauges come from the database (one grouped query each), the broker (LLEN of every queue) and the
heartbeats; counters and the execution histogram come from keys.metrics (Redis), which every
worker adds to, so one scrape of any web process sees every worker's counts. Access: a bearer
token (METRICS_TOKEN) or a client address in METRICS_ALLOWED_NETWORKS; neither configured, the
endpoint does not exist (404).
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
from collections.abc import Iterator
from datetime import datetime

import prometheus_client
import redis
from django.conf import settings
from django.db import DatabaseError
from django.http import Http404, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CollectorRegistry, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from approvals.models import Operation, State
from approvals.selectors import oldest_approved_waiting, request_counts
from audit.selectors import chain_head_at, latest_checkpoint_at, unsealed_backlog
from core.client_ip import client_ip, trusted_networks
from keys import metrics as counters
from keys.models import ComplianceState
from keys.selectors import compliance_counts, last_successful_sync_at
from portal import heartbeats
from portal.models import ProcessKind

logger = logging.getLogger(__name__)
PREFIX = "keywarden_"


class ApplicationCollector:
    """Keywarden's series at `now`; a source that fails (the broker, Redis) leaves its series
    out and says so in keywarden_metrics_source_up, the rest still answers."""

    def __init__(self, *, now: datetime) -> None:
        self.now = now

    def collect(self) -> Iterator:
        sources = GaugeMetricFamily(
            f"{PREFIX}metrics_source_up",
            "1 when the source of a group of series answered this scrape, 0 when it failed",
            labels=["source"],
        )
        for name, source in (
            ("database", self._database),
            ("broker", self._broker),
            ("counters", self._counters),
        ):
            try:
                families = list(source())
            except (redis.RedisError, OSError, DatabaseError):
                logger.warning("metrics.source_failed", extra={"source": name}, exc_info=True)
                sources.add_metric([name], 0)
                continue
            sources.add_metric([name], 1)
            yield from families
        yield sources

    # --- the database: requests, heartbeats, audit trail, inventory ---------------------------
    def _database(self) -> Iterator:
        yield from self._requests()
        yield from self._heartbeats()
        yield from self._audit()
        yield from self._inventory()

    def _requests(self) -> Iterator:
        requests = GaugeMetricFamily(
            f"{PREFIX}requests",
            "Change requests by state and operation",
            labels=["state", "operation"],
        )
        counts = request_counts()
        for state in State.values:
            for operation in Operation.values:
                requests.add_metric([state, operation], counts.get((state, operation), 0))
        yield requests
        oldest = oldest_approved_waiting()
        yield _gauge(
            "oldest_approved_request_age_seconds",
            "How long the oldest approved request has waited for a worker to start it (0: none)",
            self._age(oldest.decided_at) if oldest is not None and oldest.decided_at else 0,
        )

    def _heartbeats(self) -> Iterator:
        beats = heartbeats.process_beats(now=self.now)
        ages = GaugeMetricFamily(
            f"{PREFIX}worker_heartbeat_age_seconds",
            "Seconds since each known worker's last heartbeat",
            labels=["worker"],
        )
        for beat in beats:
            if beat.kind == ProcessKind.WORKER:
                ages.add_metric([beat.name], beat.age_seconds)
        yield ages
        consumers = GaugeMetricFamily(
            f"{PREFIX}queue_workers_live",
            "Workers with a fresh heartbeat consuming each required queue",
            labels=["queue"],
        )
        live = [b for b in beats if b.kind == ProcessKind.WORKER and b.is_live]
        for queue in heartbeats.required_queues():
            consumers.add_metric([queue], sum(queue in beat.queues for beat in live))
        yield consumers
        beat_ages = [b.age_seconds for b in beats if b.kind == ProcessKind.BEAT]
        if beat_ages:
            yield _gauge(
                "beat_heartbeat_age_seconds", "Seconds since beat's last tick", min(beat_ages)
            )
        yield _gauge(
            "beat_live",
            "1 when beat ticked within the stale period",
            int(any(b.is_live for b in beats if b.kind == ProcessKind.BEAT)),
        )

    def _audit(self) -> Iterator:
        backlog = unsealed_backlog()
        yield _gauge(
            "audit_unsealed_events", "Audit events committed but not sealed yet", backlog.count
        )
        yield _gauge(
            "audit_oldest_unsealed_age_seconds",
            "Age of the oldest unsealed audit event (0: none)",
            backlog.age_seconds(self.now) or 0,
        )
        if (head_at := chain_head_at()) is not None:
            yield _gauge(
                "audit_head_age_seconds", "Age of the newest sealed audit event", self._age(head_at)
            )
        if (signed_at := latest_checkpoint_at()) is not None:
            yield _gauge(
                "audit_checkpoint_age_seconds",
                "Age of the newest signed checkpoint",
                self._age(signed_at),
            )

    def _inventory(self) -> Iterator:
        if (synced_at := last_successful_sync_at()) is not None:
            yield _gauge(
                "inventory_last_sync_age_seconds",
                "Seconds since the newest successful inventory sync finished",
                self._age(synced_at),
            )
        compliance = GaugeMetricFamily(
            f"{PREFIX}keys_compliance",
            "Keys (not purged) by rotation compliance state; unjudged: not judged yet",
            labels=["state"],
        )
        counts = compliance_counts()
        for state in ComplianceState.values:
            compliance.add_metric([state], counts.get(state, 0))
        compliance.add_metric(["unjudged"], counts.get("", 0))
        yield compliance

    # --- the broker: queue depths ------------------------------------------------------------
    def _broker(self) -> Iterator:
        if settings.CELERY_BROKER_IS_EMBEDDED:
            return  # the filesystem broker has no lists to measure
        from portal.celery import app

        depth = GaugeMetricFamily(
            f"{PREFIX}queue_depth", "Messages waiting in each Celery queue", labels=["queue"]
        )
        with app.connection_for_read() as connection:
            client = connection.default_channel.client
            for queue in heartbeats.required_queues():
                depth.add_metric([queue], client.llen(queue))
        yield depth

    # --- Redis: counters every process adds to -----------------------------------------------
    def _counters(self) -> Iterator:
        store = counters.metrics_store()
        if store is None:
            return
        calls = CounterMetricFamily(
            f"{PREFIX}hsm_calls",
            "Tries sent to the HSM, by gateway operation",
            labels=["operation"],
        )
        for (operation,), value in sorted(store.counters(counters.HSM_CALLS).items()):
            calls.add_metric([operation], value)
        errors = CounterMetricFamily(
            f"{PREFIX}hsm_errors",
            "HSM tries that failed, by gateway operation and error",
            labels=["operation", "error"],
        )
        throttled = CounterMetricFamily(
            f"{PREFIX}hsm_throttled",
            "HSM tries answered 429, by gateway operation",
            labels=["operation"],
        )
        for (operation, error), value in sorted(store.counters(counters.HSM_ERRORS).items()):
            errors.add_metric([operation, error], value)
            if error == "HsmThrottled":
                throttled.add_metric([operation], value)
        latency = HistogramMetricFamily(
            f"{PREFIX}execution_seconds",
            "Seconds from a request's approval to the end of its execution",
            labels=["operation", "outcome"],
        )
        for series in store.histograms(counters.EXECUTION_SECONDS):
            latency.add_metric(list(series.labels), series.buckets, sum_value=series.total)
        yield from (calls, errors, throttled, latency)

    def _age(self, moment: datetime) -> float:
        return max((self.now - moment).total_seconds(), 0.0)


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"{PREFIX}{name}", documentation, value=value)


def exposition(*, now: datetime) -> bytes:
    """The whole scrape: django-prometheus's series (every process's, in multiprocess mode)
    and Keywarden's."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        base = CollectorRegistry()
        multiprocess.MultiProcessCollector(base)
    else:
        base = prometheus_client.REGISTRY
    application = CollectorRegistry()
    application.register(ApplicationCollector(now=now))
    return prometheus_client.generate_latest(base) + prometheus_client.generate_latest(application)


def refusal(request) -> tuple[int, str] | None:
    """Why this caller may not scrape (status, the rule), or None when it may."""
    address = client_ip(request)
    networks = trusted_networks(
        settings.METRICS_ALLOWED_NETWORKS, setting="METRICS_ALLOWED_NETWORKS"
    )
    if address and any(ipaddress.ip_address(address) in network for network in networks):
        return None
    header = request.headers.get("Authorization", "")
    if settings.METRICS_TOKEN and header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            token.strip().encode(), settings.METRICS_TOKEN.encode()
        ):
            return None
        return 403, "The bearer token is not this deployment's METRICS_TOKEN."
    if settings.METRICS_TOKEN:
        return 401, "GET /metrics needs Authorization: Bearer <METRICS_TOKEN>."
    return 403, f"The address {address or '(unknown)'} is not in METRICS_ALLOWED_NETWORKS."


@never_cache
@require_GET
def metrics_view(request):
    """Prometheus scrape. 404 when metrics are not configured; 401/403 naming the rule broken."""
    if not (settings.METRICS_TOKEN or settings.METRICS_ALLOWED_NETWORKS):
        raise Http404("Metrics are not enabled: set METRICS_TOKEN or METRICS_ALLOWED_NETWORKS.")
    refused = refusal(request)
    if refused is not None:
        status, message = refused
        response = HttpResponse(message + "\n", status=status, content_type="text/plain")
        if status == 401:
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(
        exposition(now=timezone.now()), content_type=prometheus_client.CONTENT_TYPE_LATEST
    )
