"""Running a resource's own provider operations: CREATE, UPDATE, CHECK and DELETE.

``run_operation`` runs in a task: it claims the resource's lease (``operations``), talks
to the backend with no transaction open (no row lock held) and records the outcome in a
short transaction. Every step is idempotent, so a retried or re-delivered task converges.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.utils import timezone

from audit.models import AuditEntry
from providers.adapters.base import CheckResult, Credentials, ProviderAdapter, ProviderError
from providers.adapters.naming import new_password
from resourcemanager.outbox import events, relay
from resourcemanager.resources import failures
from resourcemanager.resources.models import Credential, Resource
from resourcemanager.resources.operations import (
    Claim,
    Operation,
    RetryLater,
    audit_resource,
    claim_resource,
    record_outcome,
    require_data_key,
)
from resourcemanager.resources.owners import (
    current_owner_login,
    follow_owner_secret,
    open_owner_credential,
)
from resourcemanager.telemetry import metrics

logger = logging.getLogger(__name__)
Status = Resource.Status
Outcome = AuditEntry.Outcome


def run_operation(
    resource_id: str,
    operation: str,
    *,
    actor: str,
    repair: bool = True,
    last_attempt: bool = True,
    message_id: int | None = None,
) -> bool:
    """Carry out one provider operation for a resource and record its outcome.

    No transaction is open while the backend is asked: the run claims the resource (a
    lease, committed at once), talks to the backend, then records the outcome in a short
    transaction if the lease is still its own. Runs are counted in the database across
    retries and re-queues: a transient failure raises ``RetryLater`` until the run is the
    ``RM_TASK_MAX_RETRIES``-th retry, or the ``last_attempt`` the caller can make; then, as
    for any other failure, the resource goes to ``error`` with the reason. Raises
    ``OperationBusy`` while another run holds the lease. True when the outbox message
    ``message_id`` was marked handled with the outcome (``record_outcome``).
    """
    handlers: dict[Operation, Callable[..., bool]] = {
        Operation.CREATE: _run_create,
        Operation.UPDATE: _run_update,
        Operation.CHECK: _run_check,
        Operation.DELETE: _run_delete,
    }
    claim = claim_resource(resource_id, Operation(operation), last_attempt=last_attempt,
                           message_id=message_id)
    return claim is not None and handlers[claim.operation](claim, actor, repair=repair)


def _run_create(claim: Claim, actor: str, *, repair: bool) -> bool:
    resource = claim.resource
    adapter = resource.provider.adapter()
    try:
        require_data_key(resource.scope)
    except ProviderError as exc:
        return _record_error(claim, actor, "resource.create", exc)
    try:
        credentials = adapter.create(resource.backend_name, new_password(), resource.properties)
    except ProviderError as exc:
        return _record_error(claim, actor, "resource.create", exc, cleanup=adapter)

    def succeed(resource: Resource) -> list[str]:
        # Only a created resource has credentials, and its owner's credential with them.
        created_before = resource.credentials is not None
        resource.credentials = credentials.as_dict()
        resource.status = Status.READY
        resource.status_message = ""
        changed = ["credentials", "status", "status_message", "updated_at"]
        if resource.last_check_at is not None:  # the repair a CHECK asked for
            _note_check(resource, ok=True, message="created again (repaired: creation)")
            changed += _CHECK_FIELDS
        open_owner_credential(resource, actor, created_before=created_before)
        audit_resource(actor, "resource.create", Outcome.SUCCESS, resource)
        metrics.provider_operation(resource, Operation.CREATE, "success")
        relay.emit_event(resource, events.CREATED, actor)
        return changed

    return record_outcome(claim, succeed)


def _run_update(claim: Claim, actor: str, *, repair: bool) -> bool:
    resource = claim.resource
    adapter = resource.provider.adapter()
    try:
        adapter.update(resource.backend_name, resource.properties,
                       owner_login=current_owner_login(resource))
    except ProviderError as exc:
        return _record_error(claim, actor, "resource.update", exc)

    def succeed(resource: Resource) -> None:
        audit_resource(actor, "resource.update", Outcome.SUCCESS, resource, "properties applied")
        metrics.provider_operation(resource, Operation.UPDATE, "success")
        relay.emit_event(resource, events.UPDATED, actor)

    return record_outcome(claim, succeed)


def _run_check(claim: Claim, actor: str, *, repair: bool) -> bool:
    """CHECK and record the outcome; an unreachable backend is a failing check, not a retry."""
    resource = claim.resource
    adapter = resource.provider.adapter()
    try:
        owner_login = current_owner_login(resource)
        result = adapter.check(Credentials.from_dict(resource.credentials), repair=repair,
                               owner_login=owner_login)
        if result.repaired and adapter.properties:  # e.g. a re-created login lacks its limit
            adapter.update(resource.backend_name, resource.properties, owner_login=owner_login)
    except ProviderError as exc:
        result = CheckResult(ok=False, message=failures.log_failure(
            f"check of resource {resource.pk} failed", exc.message))
    message = result.message
    if result.repaired:
        message = f"{message} (repaired: {', '.join(result.repaired)})"

    def note(resource: Resource) -> list[str]:
        _note_check(resource, ok=result.ok, message=message)
        changed = [*_CHECK_FIELDS, "updated_at"]
        if result.credentials is not None:
            resource.credentials = result.credentials.as_dict()
            changed.append("credentials")
            follow_owner_secret(resource)
        if result.ok and resource.status == Status.ERROR:
            resource.status = Status.READY
            resource.status_message = ""
            changed += ["status", "status_message"]
        outcome = Outcome.SUCCESS if result.ok else Outcome.FAILURE
        audit_resource(actor, "resource.check", outcome, resource,
               failures.check_shown(resource, operator=False))
        metrics.provider_operation(
            resource, Operation.CHECK, "success" if result.ok else "failure"
        )
        relay.emit_event(resource, events.CHECKED, actor)
        return changed

    return record_outcome(claim, note)


def _run_delete(claim: Claim, actor: str, *, repair: bool) -> bool:
    resource = claim.resource
    try:
        resource.provider.adapter().delete(resource.backend_name)
    except ProviderError as exc:
        return _record_error(claim, actor, "resource.delete", exc)

    def succeed(resource: Resource) -> list[str]:
        resource.status = Status.DELETED
        resource.status_message = ""
        resource.credentials = None
        # The backend dropped their logins with the resource.
        resource.issued_credentials.exclude(status=Credential.Status.REVOKED).update(
            status=Credential.Status.REVOKED, revoked_at=timezone.now(), status_message="")
        audit_resource(actor, "resource.delete", Outcome.SUCCESS, resource)
        metrics.provider_operation(resource, Operation.DELETE, "success")
        relay.emit_event(resource, events.DELETED, actor)
        return ["status", "status_message", "credentials", "updated_at"]

    return record_outcome(claim, succeed)


def _record_error(
    claim: Claim,
    actor: str,
    action: str,
    exc: ProviderError,
    *,
    cleanup: ProviderAdapter | None = None,
) -> bool:
    """Record a failed run: a retry to come (raises ``RetryLater``) if it was transient and
    attempts remain, else the failure (as ``record_outcome``); ``cleanup`` first drops what
    a failed CREATE left."""
    if exc.transient and not claim.last_attempt:
        record_outcome(claim, lambda resource: _note_retry(resource, action, exc), finished=False)
        raise RetryLater(exc.message, attempt=claim.resource.attempts)
    if cleanup is not None:
        _remove_partial_creation(cleanup, claim.resource)
    return record_outcome(claim, lambda resource: _record_failure(resource, actor, action, exc))


def _note_retry(resource: Resource, action: str, exc: ProviderError) -> list[str]:
    failures.log_failure(f"{action} of resource {resource.pk} will be retried", exc.message)
    resource.status_message = f"{failures.RETRYING}{exc.message}"
    metrics.provider_operation(resource, action.removeprefix("resource."), "retry")
    return ["status_message", "updated_at"]


def _remove_partial_creation(adapter: ProviderAdapter, resource: Resource) -> None:
    """After a failed CREATE, drop whatever part of it exists so nothing is left behind.

    A CHECK of the resource (or a new request) creates it again from scratch.
    """
    try:
        adapter.delete(resource.backend_name)
    except ProviderError as exc:
        logger.warning(
            "could not remove what the failed creation of %s left: %s", resource.pk, exc.message
        )


def _record_failure(
    resource: Resource, actor: str, action: str, exc: ProviderError
) -> list[str]:
    failures.log_failure(f"{action} of resource {resource.pk} failed", exc.message)
    resource.status = Status.ERROR
    resource.status_message = exc.message
    fields = ["status", "status_message", "updated_at"]
    if action == "resource.create" and resource.last_check_at is not None:
        _note_check(resource, ok=False, message=exc.message)  # the repair a CHECK asked for
        fields += _CHECK_FIELDS
    audit_resource(actor, action, Outcome.FAILURE, resource,
           failures.status_shown(resource, operator=False))
    metrics.provider_operation(resource, action.removeprefix("resource."), "failure")
    return fields


#: What a CHECK of a resource whose creation failed finds (the creation is run again).
RECREATING = "its creation had failed; it is being created again"
_CHECK_FIELDS = ["last_check_at", "last_check_ok", "last_check_message"]


def _note_check(resource: Resource, *, ok: bool, message: str) -> None:
    """Record a check's outcome on ``resource`` (not saved)."""
    resource.last_check_at = timezone.now()
    resource.last_check_ok = ok
    resource.last_check_message = message
