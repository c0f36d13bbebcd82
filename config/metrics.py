"""``GET /metrics`` of the web processes: the instruments and gauges read from the app
database (resources by status, outbox backlog, each scope's usage) at scrape time, with a
few aggregate queries. Workers serve only their instruments
(``resourcemanager.telemetry.metrics``): they would otherwise each repeat the same queries.
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
import logging
from collections.abc import Iterator

from django.conf import settings
from django.db.models import Count, Min, Q
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_safe
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from resourcemanager.outbox.models import OutboxMessage
from resourcemanager.resources.models import Resource
from resourcemanager.resources.quotas import usage_by_scope
from resourcemanager.scopes.models import ScopeQuota
from resourcemanager.telemetry.metrics import instruments

logger = logging.getLogger(__name__)


@require_safe
def metrics_view(request: HttpRequest) -> HttpResponse:
    """The exposition: this process's (or all web processes') metrics and the database's.

    For a scraper from ``RM_METRICS_ALLOWED_NETWORKS``, or with ``Authorization: Bearer
    <RM_METRICS_TOKEN>``; open to everyone only in DEBUG with neither set.
    """
    refusal = _refusal(request)
    if refusal is not None:
        return refusal
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    return HttpResponse(encoder(_web_registry()), content_type=content_type)


def _refusal(request: HttpRequest) -> HttpResponse | None:
    """None when the request may read the metrics, else the answer refusing it."""
    token, networks = settings.RM_METRICS_TOKEN, settings.RM_METRICS_ALLOWED_NETWORKS
    if not token and not networks:
        if settings.DEBUG:
            return None
        return HttpResponse(
            "metrics are closed: set RM_METRICS_TOKEN or RM_METRICS_ALLOWED_NETWORKS\n",
            status=403,
        )
    if networks and _from_allowed_network(request, networks):
        return None
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if not token or scheme.lower() != "bearer":
        response = HttpResponse(
            "a bearer token is required\n" if token else "not from an allowed network\n",
            status=401 if token else 403,
        )
        if token:
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    if not hmac.compare_digest(given.strip().encode(), token.encode()):
        return HttpResponse("wrong token\n", status=403)
    return None


def _from_allowed_network(request: HttpRequest, networks: list[str]) -> bool:
    """Whether the connecting address (not a forwarded one) lies in one of ``networks``."""
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(network, strict=False) for network in networks)


@functools.cache
def _web_registry() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(instruments())
    registry.register(DatabaseCollector())
    return registry


class DatabaseCollector(Collector):
    """Resources by status and the outbox backlog, read at scrape time."""

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "rm_metrics_database_up",
            "1 if this scrape could read the app database, else 0 (the rm_resources, "
            "rm_outbox_* and rm_scope_* families are then missing).",
        )
        try:
            families = [self._resources(), *self._outbox(), *self._scopes()]
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
    def _scopes() -> list[GaugeMetricFamily]:
        """Each scope's metering (``quotas.usage_by_scope``), labelled by scope: scopes are
        made by operators, so the label stays bounded. A scope appears while it holds a
        resource or has a quota."""
        limits = dict(ScopeQuota.objects.values_list("scope", "max_bytes"))
        scopes = {*Resource.objects.live().order_by().values_list("scope", flat=True)
                  .distinct(), *limits}
        usage = usage_by_scope(Resource.objects.all(), scopes)
        described = {
            "bytes": "Bytes the scope's resources held when the CHECK sweep last measured "
                     "them.",
            "objects": "Objects the scope's buckets held then (S3 only).",
            "resources": "Resources the scope holds (deleted ones aside).",
            "credentials": "Credentials the scope's resources hold (revoked ones and the "
                           "owners' aside).",
            "frozen": "Resources of the scope frozen over a size limit.",
            "operations": "Provider operations finished on the scope's resources and "
                          "credentials, as long as the audit keeps them.",
        }
        families = []
        for field, text in described.items():
            name = "rm_scope_frozen_resources" if field == "frozen" else f"rm_scope_{field}"
            family = GaugeMetricFamily(name, text, labels=["scope"])
            for scope, held in usage.items():
                family.add_metric([scope], getattr(held, field))
            families.append(family)
        limit = GaugeMetricFamily("rm_scope_max_bytes", "The scope's byte limit (max_bytes), "
                                  "for scopes that have one.", labels=["scope"])
        for scope, max_bytes in sorted(limits.items()):
            if max_bytes is not None:
                limit.add_metric([scope], max_bytes)
        return [*families, limit]

    @staticmethod
    def _outbox() -> list[GaugeMetricFamily]:
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
