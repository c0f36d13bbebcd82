"""Prometheus metrics: what is measured, how it is exposed (names: docs/metrics.md).

Instruments (counters, histograms) are updated where things happen: requests by
``RequestMetricsMiddleware``, tasks by Celery's ``task_prerun``/``task_postrun`` signals
(connected when ``config.celery`` imports this module), provider operations and consumer
deliveries by the services that record their outcomes. Labels are bounded sets chosen by
the code or the operator (view names, task names, provider instance keys, builders); never
scopes, resource names, ids, hosts or credentials.

Gauges read from the app database (resources by status, outbox backlog, each scope's
usage, labelled by the operator-made scope) are computed at scrape time, only by the
web's ``GET /metrics`` (``config.metrics``).

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
import logging
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ParamSpec

from celery.signals import task_postrun, task_prerun, worker_ready
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    start_http_server,
)
from prometheus_client.multiprocess import MultiProcessCollector

if TYPE_CHECKING:
    from resourcemanager.resources.models import Resource

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


def _multiprocess() -> bool:
    """As prometheus_client decides at import: by the variable's presence."""
    return "PROMETHEUS_MULTIPROC_DIR" in os.environ


def instruments() -> CollectorRegistry:
    """The instruments of this process, or of every process writing to the multiprocess
    directory."""
    if not _multiprocess():
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    return registry


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
    start_http_server(port, registry=instruments())
    logger.info(
        "serving worker metrics on port %d (%s)",
        port,
        "all processes" if _multiprocess() else "this process only",
    )
