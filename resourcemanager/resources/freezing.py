"""Size limits enforced by the backend: the CHECK sweep measures every resource it covers
(``measure``), then freezes those over a limit and lifts the freeze of those back under
(``enforce``).

A resource is over when it holds more than its own ``max_bytes``, or its scope's
resources together more than the scope's ``max_bytes`` (then every measured resource of
the scope is frozen). A freeze is lifted once the resource, and its scope, hold less than
``RM_QUOTA_UNFREEZE_RATIO`` of the limits, so that sizes hovering at a limit do not flip
it on every sweep. What a freeze does on each backend: the adapters' ``freeze``.

A freeze runs under the resource's lease, as its other operations do, and is applied again
on every sweep while the resource is over: a login made meanwhile, by a run that started
before the freeze, is frozen by the next sweep at the latest. Credentials issued or
rotated while the resource is frozen come out frozen (``credential_runs``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from audit.models import AuditEntry
from providers.adapters.base import Access, ProviderAdapter, ProviderError
from resourcemanager.identity.roles import SYSTEM, Action
from resourcemanager.outbox import events, relay
from resourcemanager.resources.failures import tenant_message
from resourcemanager.resources.models import Credential, Resource
from resourcemanager.resources.operations import (
    Operation,
    OperationBusy,
    audit_resource,
    claim_resource,
    record_outcome,
)
from resourcemanager.resources.quotas import quota_of
from resourcemanager.scopes.models import ScopeQuota

Outcome = AuditEntry.Outcome
_BATCH = 1000


@dataclass
class FreezeReport:
    """What one ``enforce`` changed, by resource id (a backend's refusal is audited on
    the resource)."""

    frozen: list[str]
    unfrozen: list[str]


def measure(adapter: ProviderAdapter, resources: list[Resource]) -> str:
    """Record the sizes of one instance's ``resources`` in a few queries; the reason
    measuring failed, or ``""``. A resource missing on the backend keeps its last size."""
    if not adapter.measures_size or not resources:
        return ""
    try:
        sizes = adapter.sizes(resource.backend_name for resource in resources)
    except ProviderError as exc:
        return exc.message
    now = timezone.now()
    measured = [Resource(pk=resource.pk, size=size.bytes, size_objects=size.objects,
                         size_measured_at=now)
                for resource in resources if (size := sizes.get(resource.backend_name))]
    Resource.objects.bulk_update(measured, ["size", "size_objects", "size_measured_at"],
                                 batch_size=_BATCH)
    return ""


def enforce(scopes: Iterable[str]) -> FreezeReport:
    """Freeze the resources of ``scopes`` that are over a limit, lift the freeze of those
    back under; see the module docstring."""
    report = FreezeReport([], [])
    for scope in sorted(set(scopes)):
        quota = quota_of(scope)
        resources = list(Resource.objects.visible_to(SYSTEM, Action.CHECK_RESOURCE, scope)
                         .live().filter(managed=True).select_related("provider"))
        total = sum(resource.size or 0 for resource in resources)
        for resource in resources:
            if resource.status != Resource.Status.READY or resource.size is None \
                    or not resource.provider.adapter_class.measures_size:
                continue
            reason = over_limit(resource, quota, total)
            if reason:
                _settle(resource, reason, report.frozen)
            elif resource.frozen and under_limit(resource, quota, total):
                _settle(resource, "", report.unfrozen)
    return report


def over_limit(resource: Resource, quota: ScopeQuota, scope_total: int) -> str:
    """Why ``resource`` must be frozen, or ``""``."""
    if resource.max_bytes is not None and (resource.size or 0) > resource.max_bytes:
        return (f"holds {resource.size} bytes, over its limit of {resource.max_bytes} "
                "(max_bytes)")
    if quota.max_bytes is not None and scope_total > quota.max_bytes:
        return (f"scope {resource.scope} holds {scope_total} bytes, over its limit of "
                f"{quota.max_bytes} (max_bytes)")
    return ""


def under_limit(resource: Resource, quota: ScopeQuota, scope_total: int) -> bool:
    """Whether a frozen ``resource`` is far enough under every limit to be lifted."""
    ratio = settings.RM_QUOTA_UNFREEZE_RATIO
    return all(limit is None or held < limit * ratio for held, limit in (
        (resource.size or 0, resource.max_bytes), (scope_total, quota.max_bytes)))


def logins_of(resource: Resource) -> dict[str, Access]:
    """Every login the resource may be written through: the owner's own account and
    each credential's current, pending and retiring logins."""
    logins = {resource.backend_name: Access.OWNER}
    credentials = Credential.objects.filter(resource=resource).exclude(
        status=Credential.Status.REVOKED)
    for credential in credentials:
        access = Access(credential.access)
        names = [credential.login, *(each["login"] for each in credential.retiring)]
        if credential.pending_secret:
            names.append(credential.pending_secret["username"])
        logins.update(dict.fromkeys(names, access))
    return logins


def _settle(resource: Resource, reason: str, changed: list[str]) -> None:
    """Freeze ``resource`` (``reason`` given) or lift its freeze, under its lease; record
    it in ``changed`` when its state changed. A backend's refusal is audited; a resource
    busy with another operation is left to the next sweep."""
    try:
        claim = claim_resource(str(resource.pk), Operation.FREEZE, last_attempt=True)
    except OperationBusy:
        return
    if claim is None:
        return
    adapter = claim.resource.provider.adapter()
    freezing = bool(reason)
    try:
        logins = logins_of(claim.resource)
        if freezing:
            adapter.freeze(resource.backend_name, logins)
        else:
            adapter.unfreeze(resource.backend_name, logins)
    except ProviderError as exc:
        message = tenant_message(exc.message, claim.resource.provider)
        record_outcome(claim, lambda locked: audit_resource(
            SYSTEM.name, "resource.freeze" if freezing else "resource.unfreeze",
            Outcome.FAILURE, locked, message))
        return
    record_outcome(claim, lambda locked: _record_state(locked, reason, changed))


def _record_state(resource: Resource, reason: str, changed: list[str]) -> None:
    """Record the (locked) resource frozen for ``reason``, or lifted; audited and
    announced when that changes its state, quietly when only the reason moved."""
    frozen = bool(reason)
    if resource.frozen == frozen:
        if frozen and resource.frozen_reason != reason:
            resource.frozen_reason = reason
            resource.save(update_fields=["frozen_reason"])
        return
    resource.frozen, resource.frozen_reason = frozen, reason
    resource.frozen_at = timezone.now() if frozen else None
    resource.save(update_fields=["frozen", "frozen_reason", "frozen_at"])
    audit_resource(SYSTEM.name, "resource.freeze" if frozen else "resource.unfreeze",
                   Outcome.SUCCESS, resource,
                   f"frozen: {reason}" if frozen else "back under its limits: writes allowed")
    relay.emit_event(resource, events.FROZEN if frozen else events.UNFROZEN, SYSTEM.name)
    if str(resource.pk) not in changed:  # a retried transaction records it once
        changed.append(str(resource.pk))
