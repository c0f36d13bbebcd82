"""Operations on a resource and their lease: which may run when, claiming the lease,
recording an outcome.

A run (a resource's own in ``resource_runs``, a credential's in ``credential_runs``, a
data operation's in ``resourcemanager.backups``) claims the resource's lease, talks to the
backend with no transaction open (no row lock held) and records the outcome in a short
transaction, if the lease is still its own. ``resourcemanager.resources.stuck`` queues
again what a lost worker or message left unfinished.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from django.conf import settings
from django.db.models import Case, F, Q, When
from django.utils import timezone

from audit.models import AuditEntry
from audit.services import record
from providers.adapters.base import (
    ProviderError,
)
from resourcemanager.core import datakeys
from resourcemanager.core.dbretry import in_short_transaction
from resourcemanager.core.kms import KMSError
from resourcemanager.identity.roles import SYSTEM
from resourcemanager.outbox import relay
from resourcemanager.resources.models import Resource

logger = logging.getLogger(__name__)
Status = Resource.Status
Outcome = AuditEntry.Outcome


class Operation(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    CHECK = "check"
    DELETE = "delete"
    #: A credential's logins made, changed or dropped
    #: (``resourcemanager.resources.credential_runs``), under the resource's lease, so
    #: never at the same time as its other operations.
    ISSUE = "issue"
    RENEW = "renew"
    ROTATE = "rotate"
    RETIRE = "retire"
    REVOKE = "revoke"
    #: A backup of the resource's data made, or one restored into it
    #: (``resourcemanager.backups.runs``), under the resource's lease too.
    BACKUP = "backup"
    RESTORE = "restore"
    #: A resource frozen over its size limit, or the freeze lifted
    #: (``resourcemanager.resources.freezing``), under the lease too.
    FREEZE = "freeze"
    #: The resource emptied (``resourcemanager.backups.cleanups``), and the copy of a
    #: resource's data into a new one (``resourcemanager.backups.clones``), which holds
    #: the lease of both.
    CLEANUP = "cleanup"
    CLONE = "clone"


CREDENTIAL_OPERATIONS = frozenset({Operation.ISSUE, Operation.RENEW, Operation.ROTATE,
                                   Operation.RETIRE, Operation.REVOKE})
#: Operations whose runs their own records (a backup's, a restore's) queue again.
DATA_OPERATIONS = frozenset({Operation.BACKUP, Operation.RESTORE, Operation.CLEANUP,
                             Operation.CLONE})
#: Operations the CHECK sweep starts, and decides again on its next run.
SWEPT_OPERATIONS = frozenset({Operation.FREEZE})


class RetryLater(Exception):
    """A transient backend failure; the task runs the operation again after a backoff.

    ``attempt`` is the number of the run that failed (counted in the database).
    """

    def __init__(self, message: str, *, attempt: int = 1) -> None:
        super().__init__(message)
        self.attempt = attempt


class OperationBusy(RetryLater):
    """Another run of an operation holds the resource's lease; try again later."""


#: Statuses in which an operation may run, and keeps running (CREATE moves to CREATING).
RUNS_IN = {
    Operation.CREATE: (Status.PENDING, Status.CREATING),
    Operation.UPDATE: (Status.READY,),
    Operation.CHECK: (Status.READY, Status.ERROR),
    Operation.DELETE: (Status.DELETING,),
    Operation.ISSUE: (Status.READY,),
    Operation.RENEW: (Status.READY, Status.ERROR),
    Operation.ROTATE: (Status.READY,),
    Operation.RETIRE: (Status.READY, Status.ERROR),
    Operation.REVOKE: (Status.READY, Status.ERROR),
    Operation.BACKUP: (Status.READY,),
    Operation.RESTORE: (Status.READY,),
    Operation.FREEZE: (Status.READY,),
    Operation.CLEANUP: (Status.READY,),
    Operation.CLONE: (Status.READY,),
}


_LEASE_FIELDS = ["operation", "attempts", "lease_id", "lease_expires_at"]


#: Statuses a resource must not stay in for long without a run under way.
UNFINISHED = [Status.PENDING, Status.CREATING, Status.DELETING]


@dataclass(frozen=True)
class Claim:
    """A run's right to talk to the backend for a resource and to record the outcome."""

    resource: Resource
    operation: Operation
    lease_id: uuid.UUID
    last_attempt: bool
    #: The outbox message the run carries out, marked handled with its final outcome.
    message_id: int | None = None


def claim_resource(
    resource_id: str, operation: Operation, *, last_attempt: bool,
    message_id: int | None = None,
) -> Claim | None:
    """Take the resource's lease for ``operation``; None when there is nothing to do.

    One conditional UPDATE takes it, so that no row lock is held across a round trip."""
    now = timezone.now()
    lease_id = uuid.uuid4()
    claimable = Resource.objects.filter(
        Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lte=now),
        pk=resource_id, status__in=RUNS_IN[operation])
    if operation == Operation.CHECK:
        claimable = claimable.filter(credentials__isnull=False)
    changes: dict[str, object] = {
        "operation": operation.value,
        "attempts": Case(When(operation=operation.value, then=F("attempts") + 1), default=1),
        "lease_id": lease_id,
        "lease_expires_at": now + timedelta(seconds=settings.RM_OPERATION_TIMEOUT),
    }
    if operation == Operation.CREATE:
        changes.update(status=Status.CREATING, updated_at=now)
    claimed = claimable.update(**changes)
    try:  # not first(): its ORDER BY costs composing more than the row costs reading
        resource = Resource.objects.select_related("provider").get(pk=resource_id)
    except Resource.DoesNotExist:
        resource = None
    if not claimed:
        if resource is None or resource.status not in RUNS_IN[operation] or (
                operation == Operation.CHECK and resource.credentials is None):
            return None  # done, or superseded (e.g. deleted meanwhile)
        raise OperationBusy(f"a {resource.operation or 'previous'} run is under way")
    if resource is None or resource.lease_id != lease_id:
        return None  # taken over since, by the stuck-operation sweep
    final = last_attempt or resource.attempts > settings.RM_TASK_MAX_RETRIES
    return Claim(resource, operation, lease_id, final, message_id)


def extend_lease(claim: Claim) -> bool:
    """Keep the lease of a long run (a backup of a large database) for another
    ``RM_OPERATION_TIMEOUT``; False when it is no longer the run's own."""
    until = timezone.now() + timedelta(seconds=settings.RM_OPERATION_TIMEOUT)
    return bool(Resource.objects.filter(pk=claim.resource.pk, lease_id=claim.lease_id)
                .update(lease_expires_at=until))


def record_outcome(
    claim: Claim, apply: Callable[[Resource], list[str] | None], *, finished: bool = True
) -> bool:
    """Record an outcome with ``apply`` on the locked resource, if the lease is still ours
    and the resource still wants the operation, and release the lease (``finished``: the
    operation is over, its attempt count starts again).

    ``apply`` returns the resource's fields it changed, written with the lease's release
    in one UPDATE (or saves the resource itself and returns None). A ``finished`` outcome,
    recorded or dropped (the lease lost), marks the claim's outbox message handled in the
    same transaction: a crash before its commit leaves the message to the relay. Returns
    whether it did.
    """

    def write() -> None:
        resource = Resource.objects.select_for_update().get(pk=claim.resource.pk)
        # A resource never changes provider: the claim's copy spares a join and a decryption.
        resource.provider = claim.resource.provider
        if finished:
            relay.mark_handled(claim.message_id)
        if resource.lease_id != claim.lease_id:
            logger.warning("%s of resource %s took too long; its outcome is dropped",
                           claim.operation, resource.pk)
            return
        wanted = resource.status in RUNS_IN[claim.operation]
        changed = apply(resource) if wanted else None
        if not wanted and resource.status == Status.DELETING:  # requested meanwhile
            relay.enqueue_operation(resource, Operation.DELETE.value, SYSTEM.name)
        if finished or not wanted:
            resource.operation, resource.attempts = "", 0
        resource.lease_id = resource.lease_expires_at = None
        resource.save(update_fields=[*_LEASE_FIELDS, *(changed or ())])

    in_short_transaction(write, what=f"the {claim.operation} of resource {claim.resource.pk}")
    return finished and claim.message_id is not None


def require_data_key(scope: str) -> None:
    """Before a run that will record a secret asks the backend: the scope's data key is
    made or unwrapped now, so that a KMS that cannot answer fails the run, as a transient
    failure, before anything is made on the backend."""
    try:
        datakeys.current_key(scope)
    except KMSError as exc:
        raise ProviderError(exc.message, transient=True) from None


def locked_resource(resource_id: object) -> Resource:
    """The resource, locked until the end of the transaction, with its provider (not
    locked: every operation on any of its resources would wait for the others)."""
    return (Resource.objects.select_for_update(of=("self",)).select_related("provider")
            .get(pk=resource_id))


def audit_resource(
    actor: str, action: str, outcome: str, resource: Resource, message: str = ""
) -> None:
    """The audit entry of an action on ``resource``."""
    record(actor, action, outcome, scope=resource.scope, target=resource, message=message)
