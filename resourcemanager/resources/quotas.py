"""Quotas: the limits platform operators set on a scope and on a resource, and what the
scope uses (its metering).

A request that would take a scope past a count limit is refused (409 ``quota_exceeded``,
naming the limit) before anything changes. Size limits (``max_bytes``, of the scope and
of each resource) are enforced by the backend instead: the CHECK sweep freezes what is
over them (``resourcemanager.resources.freezing``). The count check runs in the request's
transaction with the scope's quota row locked, so concurrent requests cannot pass a limit
together; a scope without a quota row takes no lock and has no limits.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Count, Q, QuerySet, Sum

from audit.models import AuditEntry
from audit.services import record
from resourcemanager.core.errors import Conflict, InvalidInput, NotFound
from resourcemanager.core.validation import validate_scope
from resourcemanager.identity.roles import Action, Principal, require
from resourcemanager.resources.models import OWNER_HOLDER, Credential, Resource
from resourcemanager.resources.operations import Operation
from resourcemanager.scopes.models import ScopeQuota

#: The largest count limit accepted.
MAX_LIMIT = 1_000_000
#: The largest byte limit accepted: 8 PiB, an integer every JSON reader keeps exact.
MAX_BYTES = 2**53
#: The limits a scope's quota holds, each with the largest value accepted.
LIMITS = {"max_resources": MAX_LIMIT, "max_credentials": MAX_LIMIT, "max_bytes": MAX_BYTES}
#: Audited actions that count as operations in a scope's usage: the provider operations
#: on its resources and credentials (``resource.create`` … ``credential.revoke``).
_OPERATION_ACTIONS = tuple(f"{kind}.{operation}" for kind in ("resource", "credential")
                           for operation in Operation)


@dataclass(frozen=True)
class Usage:
    """What a scope holds now: bytes and objects as last measured (objects where the
    backend counts them), frozen resources, and operations run on its resources and
    credentials (as long as the audit keeps them)."""

    resources: int
    credentials: int
    bytes: int = 0
    objects: int = 0
    frozen: int = 0
    operations: int = 0


def usage_of(scope: str) -> Usage:
    return usage_by_scope(_live_resources(scope), [scope])[scope]


def usage_by_scope(resources: QuerySet[Resource], scopes: Iterable[str]) -> dict[str, Usage]:
    """The usage of each of ``scopes`` (the access layer narrowed them and ``resources``
    already), whatever their number, in three aggregate queries."""
    scopes = sorted(set(scopes))
    held = {row["scope"]: row for row in resources.live().filter(scope__in=scopes).order_by()
            .values("scope").annotate(resources=Count("pk"), bytes=Sum("size"),
                                      objects=Sum("size_objects"),
                                      frozen=Count("pk", filter=Q(frozen=True)))}
    credentials = dict(
        _live_credentials_of(scopes).order_by().values("scope").annotate(count=Count("pk"))
        .values_list("scope", "count"))
    operations = dict(
        AuditEntry.objects.filter(
            scope__in=scopes, action__in=_OPERATION_ACTIONS,
            outcome__in=(AuditEntry.Outcome.SUCCESS, AuditEntry.Outcome.FAILURE))
        .order_by().values("scope").annotate(count=Count("pk")).values_list("scope", "count"))
    usage = {}
    for scope in scopes:
        row = held.get(scope, {})
        usage[scope] = Usage(resources=row.get("resources", 0),
                             credentials=credentials.get(scope, 0),
                             bytes=row.get("bytes") or 0, objects=row.get("objects") or 0,
                             frozen=row.get("frozen", 0), operations=operations.get(scope, 0))
    return usage


def quota_of(scope: str) -> ScopeQuota:
    """The scope's quota; no limits (unsaved) when none was set."""
    return ScopeQuota.objects.filter(scope=scope).first() or ScopeQuota(scope=scope)


def view_quota(principal: Principal | None, scope: str) -> tuple[ScopeQuota, Usage]:
    require(principal, Action.VIEW_QUOTA, scope)
    return quota_of(scope), usage_of(scope)


def update_quota(principal: Principal | None, scope: str, **changes: object) -> ScopeQuota:
    """Set the named limits (``LIMITS``; null: none). Operators only; audited. A limit
    below what the scope holds is accepted: it refuses more, it removes nothing (a byte
    limit freezes the scope's resources at the next sweep)."""
    require(principal, Action.MANAGE_QUOTA, validate_scope(scope))
    unknown = set(changes) - set(LIMITS)
    if unknown:
        raise InvalidInput(f"no such limit: {', '.join(sorted(unknown))}",
                           field=sorted(unknown)[0])
    for name, value in changes.items():
        _require_limit(name, value, LIMITS[name])
    with transaction.atomic():
        quota = (ScopeQuota.objects.select_for_update().filter(scope=scope).first()
                 or ScopeQuota(scope=scope))
        for name, value in changes.items():
            setattr(quota, name, value)
        quota.updated_by = principal.name
        quota.save()
        record(principal.name, "scope.quota", AuditEntry.Outcome.SUCCESS, scope=scope,
               target=quota, message=", ".join(
                   f"{name}={getattr(quota, name)!r}" for name in sorted(changes)))
    return quota


def view_resource_limit(principal: Principal | None, scope: str, resource_id: object
                        ) -> Resource:
    """A resource of ``scope`` with its size, limit and freeze, for any member."""
    require(principal, Action.VIEW_QUOTA, scope)
    return _resource(principal, Action.VIEW_QUOTA, scope, resource_id)


def set_resource_limit(principal: Principal | None, scope: str, resource_id: object,
                       max_bytes: object) -> Resource:
    """Set the most bytes the resource may hold (null: no limit of its own). Operators
    only; audited. The next CHECK sweep freezes it when over, or lifts its freeze."""
    require(principal, Action.MANAGE_QUOTA, validate_scope(scope))
    _require_limit("max_bytes", max_bytes, MAX_BYTES)
    with transaction.atomic():
        resource = _resource(principal, Action.MANAGE_QUOTA, scope, resource_id)
        resource = Resource.objects.select_for_update().get(pk=resource.pk)
        resource.max_bytes = max_bytes
        resource.save(update_fields=["max_bytes"])
        record(principal.name, "resource.quota", AuditEntry.Outcome.SUCCESS, scope=scope,
               target=resource, message=f"max_bytes={max_bytes!r}")
    return resource


def _resource(principal: Principal, action: Action, scope: str, resource_id: object
              ) -> Resource:
    found = Resource.objects.visible_to(principal, action, scope).live().with_id(resource_id)
    if found is None:
        raise NotFound("no such resource in this scope")
    return found


def _require_limit(name: str, value: object, largest: int) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                              or not 0 <= value <= largest):
        raise InvalidInput(f"{name} is a whole number from 0 to {largest}, or null",
                           field=name)


def require_room(scope: str, *, resources: int = 0, credentials: int = 0) -> None:
    """Refuse (409 ``quota_exceeded``) what would take ``scope`` past a limit. Call it in
    the transaction that adds the rows: the quota stays locked until it ends."""
    quota = ScopeQuota.objects.select_for_update().filter(scope=scope).first()
    if quota is None:
        return
    wanted = (("max_resources", resources, "resources", _live_resources),
              ("max_credentials", credentials, "credentials", _live_credentials))
    for limit_name, more, what, live in wanted:
        limit = getattr(quota, limit_name)
        if not more or limit is None:
            continue
        if (held := live(scope).count()) + more > limit:
            raise Conflict(f"over the scope's quota of {what}: at most {limit} "
                           f"({limit_name}), and it holds {held}", code="quota_exceeded")


def _live_resources(scope: str) -> QuerySet[Resource]:
    return Resource.objects.filter(scope=scope).exclude(status=Resource.Status.DELETED)


def _live_credentials(scope: str) -> QuerySet[Credential]:
    return _live_credentials_of([scope])


def _live_credentials_of(scopes: list[str]) -> QuerySet[Credential]:
    return (Credential.objects.filter(scope__in=scopes)
            .exclude(status__in=(Credential.Status.REVOKING, Credential.Status.REVOKED))
            .exclude(holder=OWNER_HOLDER))
