"""The admin index's dashboard: what the signed-in user's scopes hold, in a few queries.

Every number and row comes from querysets narrowed by the access layer (``visible_to``,
``readable_by``): nothing of a scope the user cannot see is counted or listed. The
number of queries does not grow with the number of resources.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from django.db.models import Count, Q

from audit.models import AuditEntry
from providers.models import Provider
from resourcemanager.identity.roles import Action, Principal
from resourcemanager.resources.models import Resource
from resourcemanager.resources.quotas import Usage, usage_by_scope
from resourcemanager.scopes.models import ScopeQuota

FAILING_SHOWN = 5
AUDIT_SHOWN = 10


@dataclass(frozen=True)
class Tally:
    """One line of a count card, with the resource changelist filter that lists its rows."""

    label: str
    count: int
    query: str


@dataclass(frozen=True)
class ScopeMeter:
    """One scope's metering line: its usage and its byte limit (None: no limit)."""

    scope: str
    usage: Usage
    max_bytes: int | None


@dataclass(frozen=True)
class Dashboard:
    total: int
    by_provider: list[Tally]
    by_type: list[Tally]
    by_status: list[Tally]
    failing_count: int
    failing: list[Resource]
    providers: list[Provider]
    audit: list[AuditEntry]
    metering: list[ScopeMeter]


def build(principal: Principal | None, scope: str | None = None) -> Dashboard:
    """The dashboard of ``principal``: live resources of its scopes (of ``scope`` only, if
    given), the providers usable there, audit."""
    resources = Resource.objects.visible_to(principal, Action.VIEW_RESOURCE, scope).live()
    instances = Provider.objects.visible_to(principal)
    if scope is not None:
        instances = instances.usable_in(scope)
    failing = Q(last_check_ok=False) | Q(status=Resource.Status.ERROR)
    # One GROUP BY gives every count card: (provider, type, status) → how many, failing.
    groups = (
        resources.order_by()
        .values("provider_id", "provider__key", "type", "status")
        .annotate(count=Count("pk"), failing=Count("pk", filter=failing))
    )
    providers: Counter[tuple[int, str]] = Counter()
    types: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    failing_count = 0
    for group in groups:
        providers[group["provider_id"], group["provider__key"]] += group["count"]
        types[group["type"]] += group["count"]
        statuses[group["status"]] += group["count"]
        failing_count += group["failing"]
    return Dashboard(
        total=sum(types.values()),
        by_provider=[
            Tally(key, count, f"provider__id__exact={pk}")
            for (pk, key), count in sorted(providers.items(), key=lambda item: item[0][1])
        ],
        by_type=[
            Tally(Resource.Type(value).label, types[value], f"type__exact={value}")
            for value in Resource.Type.values if types[value]
        ],
        by_status=[
            Tally(Resource.Status(value).label, statuses[value], f"status__exact={value}")
            for value in Resource.Status.values if statuses[value]
        ],
        failing_count=failing_count,
        failing=list(
            resources.filter(failing).select_related("provider").order_by("-updated_at")[
                :FAILING_SHOWN
            ]
        ),
        providers=list(instances),
        audit=list(AuditEntry.objects.readable_by(principal, scope)[:AUDIT_SHOWN]),
        metering=_metering(principal, resources),
    )


def _metering(principal: Principal | None, resources) -> list[ScopeMeter]:
    """Usage of the scopes of ``resources`` whose quota ``principal`` may view."""
    scopes = [each for each in resources.order_by().values_list("scope", flat=True).distinct()
              if principal is not None and principal.can(Action.VIEW_QUOTA, each)]
    limits = dict(ScopeQuota.objects.filter(scope__in=scopes)
                  .values_list("scope", "max_bytes"))
    return [ScopeMeter(scope, usage, limits.get(scope))
            for scope, usage in usage_by_scope(resources, scopes).items()]
