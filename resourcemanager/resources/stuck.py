"""Queuing again the provider operations that made no progress: a run whose lease
expired, and a resource left pending, creating or deleting with no run under way."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from audit.models import AuditEntry
from resourcemanager.identity.roles import SYSTEM
from resourcemanager.outbox import relay
from resourcemanager.resources.models import Resource
from resourcemanager.resources.operations import (
    CREDENTIAL_OPERATIONS,
    DATA_OPERATIONS,
    RUNS_IN,
    SWEPT_OPERATIONS,
    UNFINISHED,
    Operation,
    audit_resource,
    locked_resource,
)

logger = logging.getLogger(__name__)
Status = Resource.Status
Outcome = AuditEntry.Outcome


def sweep_stuck_operations(timeout: float | None = None) -> list[Resource]:
    """Queue again the operations that made no progress: a run whose lease expired, and a
    resource left ``pending``, ``creating`` or ``deleting`` for ``timeout`` seconds
    (default ``RM_OPERATION_TIMEOUT``) with no run under way.

    Covers a worker killed mid-operation whose message is not redelivered, an outcome that
    could not be recorded, and a message lost before it reached the queue. Operations are
    idempotent, so a second run of one that is merely slow only finds its work done; the
    slow run's outcome is dropped, its lease being gone.
    """
    timeout = settings.RM_OPERATION_TIMEOUT if timeout is None else timeout
    now = timezone.now()
    cutoff = now - timedelta(seconds=timeout)
    stuck = Resource.objects.filter(
        Q(lease_expires_at__lt=now)
        | Q(lease_expires_at__isnull=True, status__in=UNFINISHED, updated_at__lt=cutoff)
    )
    requeued = [
        resource
        for resource_id in stuck.values_list("pk", flat=True)
        if (resource := _requeue(resource_id, cutoff, timeout)) is not None
    ]
    if requeued:
        logger.warning("queued %d stuck operation(s) again", len(requeued))
    return requeued


def _requeue(resource_id: object, cutoff: datetime, timeout: float) -> Resource | None:
    """Queue the stuck operation of one resource again (audited); None if it moved on."""
    with transaction.atomic():
        resource = locked_resource(resource_id)
        if resource.lease_expires_at is not None:
            if resource.lease_expires_at >= timezone.now():
                return None  # claimed again since the query
            operation = Operation(resource.operation)
            reason = f"its {operation} run did not finish within its lease"
        elif resource.status in UNFINISHED and resource.updated_at < cutoff:
            operation = Operation.DELETE if resource.status == Status.DELETING else (
                Operation.CREATE
            )
            reason = f"still {resource.status} after {int(timeout)} s"
        else:
            return None  # progressed since the query
        if resource.status == Status.DELETING:
            operation = Operation.DELETE  # a deletion supersedes what was running
        resource.lease_id = resource.lease_expires_at = None  # a late outcome is dropped
        if resource.status not in RUNS_IN[operation] or operation in (
                CREDENTIAL_OPERATIONS | DATA_OPERATIONS | SWEPT_OPERATIONS):
            # A credential's run is queued again by the credential sweep, which knows it;
            # a backup's or restore's by the outbox, which publishes its message again; a
            # freeze is decided again by the next CHECK sweep.
            resource.save(update_fields=["lease_id", "lease_expires_at"])
            return None
        resource.save(update_fields=["lease_id", "lease_expires_at", "updated_at"])
        audit_resource(SYSTEM.name, f"resource.{operation}", Outcome.ACCEPTED, resource,
               f"queued again: {reason}")
        relay.enqueue_operation(resource, operation.value, SYSTEM.name)
    return resource
