"""Batched CHECK sweeps: one catalog round-trip per provider instance instead of a CHECK
(two connections, one of them as the tenant) per resource. The sweep also measures the
resources' sizes and enforces the size limits (``resourcemanager.resources.freezing``).

The instance's ``inventory`` tells which databases and logins exist and hold their
privileges. Ready resources it finds healthy are recorded as passing in one UPDATE; the
others, and resources in ``error`` (whose status only the operation runner changes), get
the service's own per-resource CHECK, with repairs when asked. The catalog does not verify
passwords: ``deep`` runs the per-resource CHECK for every resource.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from django.db import models, transaction
from django.utils import timezone

from audit.models import AuditEntry
from audit.services import record
from providers.adapters.base import ProviderAdapter, ProviderError
from providers.adapters.naming import prefix_of
from providers.models import Provider
from providers.services import record_reachability
from resourcemanager.core.errors import ServiceError
from resourcemanager.identity.roles import SYSTEM, Action
from resourcemanager.resources import freezing, operations, resource_runs, services
from resourcemanager.resources.failures import tenant_message
from resourcemanager.resources.models import Resource

Status = Resource.Status
Outcome = AuditEntry.Outcome
#: ``progress(done, total)``, called as resources are settled.
Progress = Callable[[int, int], None]

PASSED_MESSAGE = "database, login and privileges are in order (catalog sweep)"
_CHUNK = 10_000  # ids per UPDATE: under the bound-parameter limits of PostgreSQL and SQLite


@dataclass(frozen=True)
class ResourceOutcome:
    id: str
    scope: str
    name: str
    provider: str
    ok: bool
    repaired: bool
    message: str


@dataclass
class InstanceReport:
    """One instance's part of a sweep. ``ok`` passed as they were; ``repaired`` passed
    after a repair; ``outcomes`` lists the failing and repaired resources only."""

    provider: str
    ok: int = 0
    repaired: int = 0
    failing: int = 0
    seconds: float = 0.0
    error: str = ""
    #: Why the instance's sizes could not be measured, if so.
    size_error: str = ""
    outcomes: list[ResourceOutcome] = field(default_factory=list)

    @property
    def checked(self) -> int:
        return self.ok + self.repaired + self.failing

    def add(self, outcome: ResourceOutcome) -> None:
        if outcome.ok and not outcome.repaired:
            self.ok += 1
            return
        self.outcomes.append(outcome)
        if outcome.ok:
            self.repaired += 1
        else:
            self.failing += 1

    def as_dict(self) -> dict[str, Any]:
        counts = {"checked": self.checked, **asdict(self)}
        del counts["outcomes"]
        return counts


@dataclass
class SweepReport:
    instances: list[InstanceReport] = field(default_factory=list)
    #: Resources frozen over a size limit, or lifted, by this sweep.
    limits: freezing.FreezeReport = field(
        default_factory=lambda: freezing.FreezeReport([], []))

    @property
    def failing(self) -> list[ResourceOutcome]:
        return [o for instance in self.instances for o in instance.outcomes if not o.ok]

    def total(self, name: str) -> float:
        return sum(getattr(instance, name) for instance in self.instances)

    def as_dict(self) -> dict[str, Any]:
        totals = {name: self.total(name) for name in ("checked", "ok", "repaired", "failing")}
        return {**totals, "seconds": round(self.total("seconds"), 3),
                "frozen": len(self.limits.frozen), "unfrozen": len(self.limits.unfrozen),
                "instances": [instance.as_dict() for instance in self.instances],
                "resources": [asdict(o) for i in self.instances for o in i.outcomes]}


def select_resources(
    scope: str | None = None, provider: str | None = None, *, only_failing: bool = False
) -> models.QuerySet[Resource]:
    """Managed ready/error resources a sweep covers, through the one scope filter."""
    resources = Resource.objects.visible_to(SYSTEM, Action.CHECK_RESOURCE, scope).filter(
        status__in=[Status.READY, Status.ERROR], managed=True
    )
    if provider:
        resources = resources.filter(provider__key=provider)
    if only_failing:
        resources = resources.filter(models.Q(last_check_ok=False) | models.Q(status=Status.ERROR))
    return resources


def sweep(
    scope: str | None = None,
    provider: str | None = None,
    *,
    only_failing: bool = False,
    repair: bool = True,
    deep: bool = False,
    progress: Progress | None = None,
) -> SweepReport:
    """CHECK the selected resources, one instance at a time; see the module docstring."""
    resources = (
        select_resources(scope, provider, only_failing=only_failing)
        .only("id", "scope", "name", "backend_name", "status", "provider", "last_check_ok",
              "last_check_message")
        .annotate(has_credentials=models.Q(credentials__isnull=False))
        .order_by("scope", "name")
    )
    by_instance: dict[int, list[Resource]] = defaultdict(list)
    for resource in resources:
        by_instance[resource.provider_id].append(resource)
    total, done = sum(map(len, by_instance.values())), 0

    def tick(count: int) -> None:
        nonlocal done
        done += count
        if progress:
            progress(done, total)

    report = SweepReport()
    instances = Provider.objects.in_bulk(list(by_instance))
    for instance in sorted(instances.values(), key=lambda p: p.key):
        report.instances.append(
            _sweep_instance(instance, by_instance[instance.pk], repair=repair, deep=deep,
                            tick=tick)
        )
    report.limits = freezing.enforce(
        {resource.scope for each in by_instance.values() for resource in each})
    return report


def _sweep_instance(
    instance: Provider, resources: list[Resource], *, repair: bool, deep: bool,
    tick: Callable[[int], None],
) -> InstanceReport:
    started = time.monotonic()
    report = InstanceReport(instance.key)
    try:
        healthy = healthy_names(instance.adapter(), (r.backend_name for r in resources))
    except ProviderError as exc:
        report.error = exc.message
        _record_unreachable(instance, resources, exc.message, report)
        tick(len(resources))
    else:
        passing = [] if deep else [
            r for r in resources
            if r.status == Status.READY and r.has_credentials and r.backend_name in healthy
        ]
        report.ok = _record_passed(passing)
        tick(len(passing))
        passed = {r.pk for r in passing}
        for resource in resources:
            if resource.pk not in passed:
                flagged = resource.backend_name not in healthy
                report.add(_check_one(instance, resource, repair=repair, flagged=flagged))
                tick(1)
        report.size_error = freezing.measure(instance.adapter(), resources)
    report.seconds = time.monotonic() - started
    record_reachability(instance, report.error or None)
    summary = (f"checked {report.checked}: {report.ok} ok, {report.repaired} repaired, "
               f"{report.failing} failing in {report.seconds:.1f} s")
    if report.error:
        summary = f"{report.error}; {summary}"
    if report.size_error:
        summary = f"{summary}; sizes not measured: {report.size_error}"
    record(SYSTEM.name, "provider.check_sweep", Outcome.FAILURE if report.failing else
           Outcome.SUCCESS, target=instance, message=summary)
    return report


def healthy_names(adapter: ProviderAdapter, backend_names: Iterable[str]) -> frozenset[str]:
    """Names the instance's catalog finds healthy: one inventory per name prefix in use
    (usually one; more after an operator changed ``name_prefix``)."""
    prefixes = set(filter(None, map(prefix_of, backend_names)))
    healthy: frozenset[str] = frozenset()
    for prefix in sorted(prefixes):
        healthy |= adapter.inventory(prefix).healthy
    return healthy


def _record_passed(resources: list[Resource]) -> int:
    """Record a passing CHECK on ready resources in bulk; ``WHERE`` keeps out any row whose
    status changed meanwhile. Returns how many were recorded."""
    now, recorded = timezone.now(), 0
    ids = [r.pk for r in resources]
    for start in range(0, len(ids), _CHUNK):
        recorded += Resource.objects.filter(
            pk__in=ids[start:start + _CHUNK], status=Status.READY, credentials__isnull=False
        ).update(last_check_at=now, last_check_ok=True, last_check_message=PASSED_MESSAGE)
    return recorded


def _record_unreachable(
    instance: Provider, resources: list[Resource], reason: str, report: InstanceReport
) -> None:
    """The instance could not be asked: every resource fails with the reason, status kept
    (as a CHECK that hits a ProviderError). Audited per resource when it starts failing
    for this reason, not again on every sweep of a long outage."""
    now, ids = timezone.now(), [r.pk for r in resources]
    with transaction.atomic():
        for start in range(0, len(ids), _CHUNK):
            Resource.objects.filter(
                pk__in=ids[start:start + _CHUNK], status__in=[Status.READY, Status.ERROR]
            ).update(last_check_at=now, last_check_ok=False, last_check_message=reason)
        for resource in resources:
            if resource.last_check_ok is not False or resource.last_check_message != reason:
                record(SYSTEM.name, "resource.check", Outcome.FAILURE, scope=resource.scope,
                       target=resource,
                       message=tenant_message(reason, instance))
            report.add(_outcome(instance, resource, ok=False, repaired=False, message=reason))


def _check_one(
    instance: Provider, resource: Resource, *, repair: bool, flagged: bool
) -> ResourceOutcome:
    """The operation runner's CHECK for one resource (its own lock, rules and audit)."""
    if resource.has_credentials:
        try:
            resource_runs.run_operation(str(resource.pk), operations.Operation.CHECK,
                                   actor=SYSTEM.name, repair=repair)
        except operations.OperationBusy as exc:
            return _outcome(instance, resource, ok=False, repaired=False,
                            message=f"not checked: {exc}")
        resource.refresh_from_db(fields=["last_check_ok", "last_check_message"])
        ok = bool(resource.last_check_ok)
        return _outcome(instance, resource, ok=ok, repaired=ok and repair and flagged,
                        message=resource.last_check_message)
    if not repair:  # its creation failed; CHECK with repair creates it again
        return _outcome(instance, resource, ok=False, repaired=False,
                        message=f"not created: {resource.status_message or 'creation failed'}")
    try:
        services.check_resource(SYSTEM, resource, repair=True, inline=True)
    except ServiceError as exc:
        return _outcome(instance, resource, ok=False, repaired=False, message=exc.message)
    resource.refresh_from_db(fields=["status", "status_message"])
    ok = resource.status == Status.READY
    return _outcome(instance, resource, ok=ok, repaired=ok,
                    message="created again" if ok else resource.status_message)


def _outcome(
    instance: Provider, resource: Resource, *, ok: bool, repaired: bool, message: str
) -> ResourceOutcome:
    return ResourceOutcome(id=str(resource.pk), scope=resource.scope, name=resource.name,
                           provider=instance.key, ok=ok, repaired=repaired, message=message)
