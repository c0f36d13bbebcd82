"""Prometheus metrics: what is measured, how it is exposed (names: docs/metrics.md).

Instruments (counters, histograms) are updated where things happen: requests by
``RequestMetricsMiddleware``, tasks by Celery's ``task_prerun``/``task_postrun`` signals
(connected when ``config.celery`` imports this module), provider operations and consumer
deliveries by the services that record their outcomes. Labels are bounded sets chosen by
the code or the operator (view names, task names, provider instance keys, builders); never
scopes, resource names, ids, hosts or credentials.

Gauges read from the app database (resources by status, outbox backlog) are computed at
scrape time by ``DatabaseCollector``, with one aggregate query each, and only by the web's
``GET /metrics``: workers would otherwise each repeat the same queries.

Several processes (gunicorn workers, Celery's prefork children) use prometheus_client's
multiprocess mode: with ``PROMETHEUS_MULTIPROC_DIR`` set before start, each process writes
its values to files there and a scrape sums them. A Celery worker with
``RM_WORKER_METRICS_PORT`` serves them from its main process, which runs no tasks but
outlives its children, with ``start_http_server`` at ``worker_ready`` (after the pool has
forked, so no child inherits the server's thread). Only counters and histograms are kept
per process, so the files of exited processes stay on purpose: their counts remain in the
totals. Without the directory each process has its own registry, which is right for a
single-process web server and the ``solo``/``threads`` pools.

Metrics observe and never decide: an error while recording or collecting is logged, never
raised into a request or a task.
"""

from __future__ import annotations

import functools
import hmac
import logging
import os
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, ParamSpec

from celery.signals import task_postrun, task_prerun, worker_ready
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_safe
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    start_http_server,
)
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from resourcemanager.models import Resource

logger = logging.getLogger(__name__)
P = ParamSpec("P")

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_TASK_OUTCOMES = {"SUCCESS": "success", "RETRY": "retry"}  # anything else: failure

disable_created_metrics()  # no *_created series: they double the count for little use

HTTP_REQUESTS = Counter(
    "rm_http_requests",
    "HTTP requests answered, by method, Django view name and status class.",
    ["method", "view", "status"],
)
HTTP_DURATION = Histogram(
    "rm_http_request_duration_seconds",
    "Time to answer an HTTP request, by method and Django view name.",
    ["method", "view"],
)
TASK_DURATION = Histogram(
    "rm_task_duration_seconds",
    "Run time of Celery tasks by task name and outcome (success, retry, failure).",
    ["task", "outcome"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
)
PROVIDER_OPERATIONS = Counter(
    "rm_provider_operations",
    "Provider operations carried out, by provider class, instance key, operation "
    "(create, update, check, delete) and outcome (success, retry, failure).",
    ["provider_class", "provider", "operation", "outcome"],
)
CONSUMER_DELIVERIES = Counter(
    "rm_consumer_deliveries",
    "Delivery attempts of events to consumers, by builder and outcome "
    "(delivered, retry, failed, skipped).",
    ["builder", "outcome"],
)


def _never_raises(func: Callable[P, None]) -> Callable[P, None]:
    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            func(*args, **kwargs)
        except Exception:
            logger.exception("metrics: %s failed", func.__name__)

    return wrapper


# --- recording, called by the services ------------------------------------------------


@_never_raises
def provider_operation(resource: Resource, operation: str, outcome: str) -> None:
    """Count one outcome of a provider operation (``success``, ``retry``, ``failure``)."""
    provider = resource.provider
    PROVIDER_OPERATIONS.labels(provider.provider_class, provider.key, operation, outcome).inc()


@_never_raises
def consumer_delivery(builder: str, outcome: str) -> None:
    CONSUMER_DELIVERIES.labels(builder, outcome).inc()


# --- requests -------------------------------------------------------------------------


class RequestMetricsMiddleware:
    """Count and time every request; first in ``MIDDLEWARE`` so it sees every answer."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        _observe_request(request, response.status_code, time.perf_counter() - started)
        return response


@_never_raises
def _observe_request(request: HttpRequest, status: int, seconds: float) -> None:
    method = request.method if request.method in _METHODS else "other"
    match = request.resolver_match
    view = match.view_name if match is not None else "unmatched"
    HTTP_REQUESTS.labels(method, view, f"{status // 100}xx").inc()
    HTTP_DURATION.labels(method, view).observe(seconds)


@require_safe
def metrics_view(request: HttpRequest) -> HttpResponse:
    """The exposition: this process's (or all web processes') metrics and the database's.

    Open unless ``RM_METRICS_TOKEN`` is set; then ``Authorization: Bearer <token>``.
    """
    token = settings.RM_METRICS_TOKEN
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            response = HttpResponse("a bearer token is required\n", status=401)
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
        if not hmac.compare_digest(given.strip().encode(), token.encode()):
            return HttpResponse("wrong token\n", status=403)
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    return HttpResponse(encoder(_web_registry()), content_type=content_type)


def _multiprocess() -> bool:
    """As prometheus_client decides at import: by the variable's presence."""
    return "PROMETHEUS_MULTIPROC_DIR" in os.environ


def _instruments() -> CollectorRegistry:
    """The instruments of this process, or of every process writing to the multiprocess
    directory."""
    if not _multiprocess():
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    return registry


@functools.cache
def _web_registry() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_instruments())
    registry.register(DatabaseCollector())
    return registry


# --- gauges from the app database -----------------------------------------------------


class DatabaseCollector(Collector):
    """Resources by status and the outbox backlog, read at scrape time."""

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "rm_metrics_database_up",
            "1 if this scrape could read the app database, else 0 (the rm_resources and "
            "rm_outbox_* families are then missing).",
        )
        try:
            families = [self._resources(), *self._outbox()]
        except Exception:
            logger.exception("metrics: could not read the app database")
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield from families
        yield up

    @staticmethod
    def _resources() -> GaugeMetricFamily:
        from django.db.models import Count

        from resourcemanager.models import Resource

        rows = (
            Resource.objects.order_by()
            .values_list("provider__key", "type", "status")
            .annotate(count=Count("pk"))
        )
        counts = {(key, type_, status): count for key, type_, status, count in rows}
        # Every status of each provider and type seen, so a series drops to 0, not away.
        for key, type_ in {(key, type_) for key, type_, _ in counts}:
            for status in Resource.Status.values:
                counts.setdefault((key, type_, status), 0)
        family = GaugeMetricFamily(
            "rm_resources",
            "Resources by provider instance key, type and status (deleted ones included).",
            labels=["provider", "type", "status"],
        )
        for labels, count in sorted(counts.items()):
            family.add_metric(list(labels), count)
        return family

    @staticmethod
    def _outbox() -> list[GaugeMetricFamily]:
        from django.db.models import Count, Min, Q

        from resourcemanager.models import OutboxMessage

        rows = {
            row["kind"]: row
            for row in OutboxMessage.objects.filter(handled_at__isnull=True)
            .order_by()
            .values("kind")
            .annotate(
                unhandled=Count("pk"),
                unpublished=Count("pk", filter=Q(published_at__isnull=True)),
                oldest=Min("created_at"),
            )
        }
        unhandled = GaugeMetricFamily(
            "rm_outbox_unhandled_messages",
            "Outbox messages no task has carried out yet (unpublished ones included).",
            labels=["kind"],
        )
        unpublished = GaugeMetricFamily(
            "rm_outbox_unpublished_messages",
            "Outbox messages waiting to be published to the broker.",
            labels=["kind"],
        )
        age = GaugeMetricFamily(
            "rm_outbox_oldest_unhandled_age_seconds",
            "Age of the oldest outbox message no task has carried out yet (0: none).",
            labels=["kind"],
        )
        now = timezone.now()
        for kind in OutboxMessage.Kind.values:
            row = rows.get(kind, {"unhandled": 0, "unpublished": 0, "oldest": None})
            unhandled.add_metric([kind], row["unhandled"])
            unpublished.add_metric([kind], row["unpublished"])
            oldest = row["oldest"]
            age.add_metric([kind], max((now - oldest).total_seconds(), 0) if oldest else 0)
        return [unhandled, unpublished, age]


# --- Celery workers -------------------------------------------------------------------

#: Start times of running tasks by (task id, retries): an eager retry reruns the same id.
_task_started: dict[tuple[str, int], float] = {}


@task_prerun.connect
@_never_raises
def _task_prerun(task_id: str, task: Any, **_: Any) -> None:
    _task_started[(task_id, task.request.retries)] = time.perf_counter()


@task_postrun.connect
@_never_raises
def _task_postrun(task_id: str, task: Any, state: str | None = None, **_: Any) -> None:
    started = _task_started.pop((task_id, task.request.retries), None)
    if started is not None:
        outcome = _TASK_OUTCOMES.get(state or "", "failure")
        TASK_DURATION.labels(task.name, outcome).observe(time.perf_counter() - started)


@worker_ready.connect
@_never_raises
def _serve_worker_metrics(sender: Any, **_: Any) -> None:
    """Serve this worker's metrics on ``RM_WORKER_METRICS_PORT``, if set."""
    from celery.concurrency.prefork import TaskPool

    port = settings.RM_WORKER_METRICS_PORT
    if not port:
        return
    if isinstance(sender.controller.pool, TaskPool) and not _multiprocess():
        logger.warning(
            "PROMETHEUS_MULTIPROC_DIR is not set: the metrics of the tasks, which run in "
            "prefork child processes, cannot be served (docs/metrics.md)"
        )
    start_http_server(port, registry=_instruments())
    logger.info(
        "serving worker metrics on port %d (%s)",
        port,
        "all processes" if _multiprocess() else "this process only",
    )
