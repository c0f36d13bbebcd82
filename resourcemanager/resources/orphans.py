"""Orphans: backend objects no live record owns, and records whose database is gone.

Names come only from an instance's catalog (``inventory``), kept when they fully match
the naming scheme (prefix + 12 ``[a-z0-9]``), so nothing else on a shared server is ever
listed or dropped. A record in status ``deleted`` owns nothing: its leftovers are orphans.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from audit.models import AuditEntry
from audit.services import record
from providers.adapters.base import ProviderError
from providers.adapters.naming import prefix_of
from providers.models import Provider
from resourcemanager.identity.roles import SYSTEM, Action
from resourcemanager.resources.models import Resource

Status = Resource.Status
#: Statuses whose record owns its backend objects: never drop those.
LIVE_STATUSES = (Status.PENDING, Status.CREATING, Status.READY, Status.ERROR, Status.DELETING)


@dataclass(frozen=True)
class OrphanObject:
    """A database and/or login of ours without a live record."""

    name: str
    database: bool
    login: bool
    deleted_record: str = ""  # "scope/name" of the deleted record it belonged to


@dataclass(frozen=True)
class MissingBackend:
    """A ready/error record whose database no longer exists."""

    id: str
    scope: str
    name: str
    backend_name: str
    status: str
    missing: tuple[str, ...]


@dataclass
class InstanceOrphans:
    provider: str
    objects: list[OrphanObject] = field(default_factory=list)
    records: list[MissingBackend] = field(default_factory=list)
    error: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def find_orphans(provider: str | None = None) -> list[InstanceOrphans]:
    """Scan every provider instance (or the one with key ``provider``)."""
    instances = Provider.objects.order_by("key")
    if provider:
        instances = instances.filter(key=provider)
    return [scan_instance(instance) for instance in instances]


def scan_instance(instance: Provider) -> InstanceOrphans:
    adapter, found = instance.adapter(), InstanceOrphans(instance.key)
    # Protection reads every record of the instance, whatever the scope filter would show.
    owned = Resource.objects.filter(provider=instance)
    names_in_use = owned.exclude(backend_name=None).values_list("backend_name", flat=True)
    prefixes = {adapter.name_prefix, *filter(None, map(prefix_of, names_in_use))}
    databases: set[str] = set()
    logins: set[str] = set()
    try:
        for prefix in sorted(prefixes):
            inventory = adapter.inventory(prefix)
            databases |= inventory.databases
            logins |= inventory.logins
    except ProviderError as exc:
        found.error = exc.message
        return found
    # Read after the catalog: a record exists before its objects, so every object the
    # catalog showed has its live record, if any, in this query.
    live = set(owned.filter(status__in=LIVE_STATUSES).values_list("backend_name", flat=True))
    orphans = sorted((databases | logins) - live)
    deleted = {r.backend_name: str(r) for r in owned.filter(status=Status.DELETED,
                                                             backend_name__in=orphans)}
    found.objects = [
        OrphanObject(name, name in databases, name in logins, deleted.get(name, ""))
        for name in orphans
    ]
    records = Resource.objects.visible_to(SYSTEM, Action.VIEW_RESOURCE).filter(
        provider=instance, status__in=[Status.READY, Status.ERROR], managed=True
    )
    for resource in records.order_by("scope", "name"):
        name = resource.backend_name
        if prefix_of(name) is None or name in databases:
            continue  # not a generated name (unknowable), or its database is there
        missing = ("database",) if name in logins else ("database", "login")
        found.records.append(MissingBackend(str(resource.pk), resource.scope, resource.name,
                                            name, resource.status, missing))
    return found


def delete_orphan(instance: Provider, name: str) -> str:
    """Drop an orphan's database and login; audited. Returns "" or why it was not dropped.

    Refuses a name outside the naming scheme or one a live record owns (checked again
    here, right before the drop).
    """
    if prefix_of(name) is None:
        raise ValueError(f"{name!r} is not a generated backend name")
    owned = Resource.objects.filter(provider=instance, backend_name=name)
    if owned.filter(status__in=LIVE_STATUSES).exists():
        return "a live record owns it"
    deleted = owned.first()  # a deleted record: audit in its scope
    audit_target = {"scope": deleted.scope, "target": deleted} if deleted else {"target": instance}
    try:
        instance.adapter().delete(name)
    except ProviderError as exc:
        record(SYSTEM.name, "orphan.delete", AuditEntry.Outcome.FAILURE, **audit_target,
               message=f"{name} on {instance.key}: {exc.message}")
        return exc.message
    record(SYSTEM.name, "orphan.delete", AuditEntry.Outcome.SUCCESS, **audit_target,
           message=f"dropped orphan database and login {name} on {instance.key}")
    return ""
