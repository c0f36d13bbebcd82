"""Quotas: the limits platform operators set on a scope, and what the scope uses.

A request that would take a scope past a limit is refused (409 ``quota_exceeded``, naming
the limit) before anything changes. The check runs in the request's transaction with the
scope's quota row locked, so concurrent requests cannot pass a limit together; a scope
without a quota row takes no lock and has no limits.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.db.models import QuerySet

from audit.models import AuditEntry
from audit.services import record
from resourcemanager.core.errors import Conflict, InvalidInput
from resourcemanager.core.validation import validate_scope
from resourcemanager.identity.roles import Action, Principal, require
from resourcemanager.resources.models import OWNER_HOLDER, Credential, Resource
from resourcemanager.scopes.models import ScopeQuota

LIMITS = ("max_resources", "max_credentials")
#: The largest limit accepted.
MAX_LIMIT = 1_000_000


@dataclass(frozen=True)
class Usage:
    """What a scope holds now."""

    resources: int
    credentials: int


def usage_of(scope: str) -> Usage:
    return Usage(resources=_live_resources(scope).count(),
                 credentials=_live_credentials(scope).count())


def quota_of(scope: str) -> ScopeQuota:
    """The scope's quota; no limits (unsaved) when none was set."""
    return ScopeQuota.objects.filter(scope=scope).first() or ScopeQuota(scope=scope)


def view_quota(principal: Principal | None, scope: str) -> tuple[ScopeQuota, Usage]:
    require(principal, Action.VIEW_QUOTA, scope)
    return quota_of(scope), usage_of(scope)


def update_quota(principal: Principal | None, scope: str, **changes: object) -> ScopeQuota:
    """Set the named limits (``LIMITS``; null: none). Operators only; audited. A limit
    below what the scope holds is accepted: it refuses more, it removes nothing."""
    require(principal, Action.MANAGE_QUOTA, validate_scope(scope))
    unknown = set(changes) - set(LIMITS)
    if unknown:
        raise InvalidInput(f"no such limit: {', '.join(sorted(unknown))}",
                           field=sorted(unknown)[0])
    for name, value in changes.items():
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or not 0 <= value <= MAX_LIMIT):
            raise InvalidInput(f"{name} is a whole number from 0 to {MAX_LIMIT}, or null",
                               field=name)
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
    return (Credential.objects.filter(scope=scope)
            .exclude(status__in=(Credential.Status.REVOKING, Credential.Status.REVOKED))
            .exclude(holder=OWNER_HOLDER))
