"""Running a credential's operations against its backend.

ISSUE makes its login; RENEW moves the login's expiry; ROTATE makes the new login of a
rotation; RETIRE drops the logins a rotation replaced once their grace is over, an owner's
after handing what they defined over to its current login (``hand_over_definitions``); REVOKE
drops every login of the credential (an owner-level one's after handing what they defined
over to the resource's owner) and ends their sessions. All run under the
resource's lease (``operations.claim_resource``), so never while the resource is created,
updated, checked or deleted, with no transaction open while the backend is asked; the
outcome is recorded on the credential in the short transaction that releases the lease.
A failure marks the credential, never the resource.
"""

from __future__ import annotations

from contextlib import suppress
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from audit.models import AuditEntry
from audit.services import record
from providers.adapters.base import Access, Credentials, Login, ProviderAdapter, ProviderError
from resourcemanager.core.fields import Sealed
from resourcemanager.outbox import events, relay
from resourcemanager.resources import failures
from resourcemanager.resources.models import (
    CONSUMER_HOLDER,
    OWNER_HOLDER,
    Credential,
    Resource,
)
from resourcemanager.resources.operations import (
    Operation,
    RetryLater,
    claim_resource,
    record_outcome,
    require_data_key,
)
from resourcemanager.telemetry import metrics

Outcome = AuditEntry.Outcome
Status = Credential.Status
#: The operations that a credential's status asks for, while it has it.
STATUS_WANTS = {Status.ISSUING: Operation.ISSUE, Status.ROTATING: Operation.ROTATE,
                Status.REVOKING: Operation.REVOKE}
_GONE = (Status.REVOKING, Status.REVOKED)
#: The event each operation's success announces (RETIRE changes nothing a holder uses).
_ANNOUNCED = {
    Operation.ISSUE: events.CREDENTIAL_ISSUED, Operation.RENEW: events.CREDENTIAL_RENEWED,
    Operation.ROTATE: events.CREDENTIAL_ROTATED, Operation.REVOKE: events.CREDENTIAL_REVOKED,
}


def run_credential_operation(
    resource_id: str, credential_id: str, operation: str, *, actor: str,
    last_attempt: bool = True, message_id: int | None = None,
) -> bool:
    """Carry out ``operation`` for one credential and record the outcome. Raises
    ``RetryLater`` after a transient failure (not on the ``last_attempt``) and
    ``OperationBusy`` while another run holds the resource. True when the outbox message
    ``message_id`` was marked handled with the outcome."""
    operation = Operation(operation)
    credential = Credential.objects.filter(pk=credential_id, resource_id=resource_id).first()
    if credential is None or not wanted(operation, credential):
        return False  # done, or superseded (revoked meanwhile)
    claim = claim_resource(resource_id, operation, last_attempt=last_attempt,
                           message_id=message_id)
    if claim is None:
        _not_runnable(credential.pk, operation)
        return False
    resource = credential.resource = claim.resource
    adapter = resource.provider.adapter()
    try:
        require_data_key(resource.scope)
        outcome = _carry_out(adapter, resource.backend_name, credential, operation,
                             frozen=resource.frozen)
    except ProviderError as exc:
        if exc.transient and not claim.last_attempt:
            record_outcome(claim, lambda resource: None, finished=False)
            metrics.provider_operation(resource, operation, "retry")
            raise RetryLater(exc.message, attempt=claim.resource.attempts) from None
        if operation == Operation.ROTATE:  # the new login, however far it got
            with suppress(ProviderError):
                adapter.remove_login(resource.backend_name,
                                     credential.pending_secret["username"])
        message = failures.log_failure(
            f"credential.{operation} of credential {credential.pk} failed", exc.message)
        handled = record_outcome(claim, lambda resource: _failed(
            resource, credential.pk, operation, actor, message))
        metrics.provider_operation(resource, operation, "failure")
        return handled
    handled = record_outcome(claim, lambda resource: _succeeded(
        resource, credential, operation, outcome, actor))
    metrics.provider_operation(resource, operation, "success")
    return handled


def wanted(operation: Operation, credential: Credential) -> bool:
    """Whether ``credential`` still asks for ``operation``: runs are repeated, superseded
    or late, and do nothing then."""
    if operation == Operation.RENEW:
        return credential.status in (Status.ACTIVE, Status.ROTATING) \
            and credential.expires_at is not None
    if operation == Operation.RETIRE:
        return bool(credential.retiring) and credential.status not in _GONE
    return STATUS_WANTS.get(credential.status) == operation


def audit_credential(
    actor: str, action: str, outcome: str, credential: Credential, message: str = ""
) -> None:
    """The audit entry of an action on ``credential`` (never its secret)."""
    record(actor, action, outcome, scope=credential.scope, target=credential,
           message=message or f"{credential.access} for {credential.holder}")


def due_logins(credential: Credential, now: datetime) -> list[str]:
    """The replaced logins of ``credential`` whose grace is over."""
    return [each["login"] for each in credential.retiring
            if datetime.fromisoformat(each["until"]) <= now]


def _carry_out(adapter: ProviderAdapter, backend_name: str, credential: Credential,
               operation: Operation, *, frozen: bool) -> Any:
    """Ask the backend; the answer is what ``_succeeded`` records. The logins it makes
    come out ``frozen`` when the resource is (``resourcemanager.resources.freezing``)."""
    access = Access(credential.access)
    if operation == Operation.ISSUE:
        return adapter.add_login(backend_name, Login(
            credential.login, credential.secret.get("password", ""), access,
            credential.expires_at, frozen))
    if operation == Operation.RENEW:  # the same login again, with the new expiry
        if not adapter.login_secret_from_backend:  # there, adding it again makes a new key
            adapter.add_login(backend_name, Login(
                credential.login, credential.secret["password"], access,
                credential.expires_at, frozen))
        return credential.expires_at
    if operation == Operation.ROTATE:
        pending = credential.pending_secret
        issued = adapter.add_login(backend_name, Login(
            pending["username"], pending.get("password", ""), access, credential.expires_at,
            frozen))
        if credential.holder == OWNER_HOLDER and adapter.properties:  # its limits move along
            adapter.update(backend_name, credential.resource.properties,
                           owner_login=pending["username"])
        return issued
    if operation == Operation.RETIRE:
        dropped = due_logins(credential, timezone.now())
        kept = adapter.hand_over_definitions(backend_name, dropped, credential.login) \
            if access == Access.OWNER and dropped else []  # only owners define objects
        for login in dropped:
            if login == backend_name:  # the owner's own account: closed, it owns the data
                adapter.close_owner_login(backend_name)
            else:
                adapter.remove_login(backend_name, login)
        return dropped, kept
    logins = [credential.login, *(each["login"] for each in credential.retiring)]
    if credential.pending_secret:
        logins.append(credential.pending_secret["username"])
    kept = adapter.hand_over_definitions(  # to the owner, whose login stays
        backend_name, logins, credential.resource.credentials["username"]) \
        if access == Access.OWNER else []
    for login in logins:
        adapter.remove_login(backend_name, login)
    return kept


def _succeeded(resource: Resource, read: Credential, operation: Operation,
               outcome: Any, actor: str) -> list[str] | None:
    """Record the outcome on the credential (``read`` before the run), with ``resource``
    locked by the caller; the resource's fields it changed, as ``record_outcome`` takes
    them."""
    message, changed = "", None
    if operation == Operation.ISSUE:
        credential = _issued(read, outcome)
    else:
        credential = Credential.objects.select_for_update().get(pk=read.pk)
        credential.resource = resource
        if wanted(operation, credential):
            message, changed = _recorded(credential, operation, outcome)
        else:
            credential = None
    if credential is None:
        return None  # revoked meanwhile: its REVOKE runs next and drops the logins
    credential.resource = resource
    # A consumer's own logins are its deliveries' plumbing: only their rotation is told,
    # to that consumer, which must hold the new login before the replaced one goes.
    if operation in _ANNOUNCED and (operation == Operation.ROTATE
                                    or not credential.holder.startswith(CONSUMER_HOLDER)):
        relay.emit_event(resource, _ANNOUNCED[operation], actor,
                         credential=describe_credential(credential))
    if operation == Operation.ROTATE and credential.rotation_grace == 0:
        relay.enqueue_credential_operation(resource, credential.pk, Operation.RETIRE, actor)
    audit_credential(actor, f"credential.{operation}", Outcome.SUCCESS, credential, message)
    return changed


def _issued(read: Credential, issued: Credentials) -> Credential | None:
    """The credential with its ISSUEd login recorded, in one conditional UPDATE that finds
    it still issuing; None when it no longer is. Only its status and secret change: what
    else a request may change meanwhile (its rotation schedule) is left as it is."""
    now, secret = timezone.now(), issued.as_dict()
    if not Credential.objects.filter(pk=read.pk, status=Status.ISSUING).update(
            status=Status.ACTIVE, secret=Sealed(read.scope, secret), status_message="",
            updated_at=now):
        return None
    read.status, read.secret, read.status_message, read.updated_at = (
        Status.ACTIVE, secret, "", now)
    return read


def _recorded(credential: Credential, operation: Operation, outcome: Any
              ) -> tuple[str, list[str] | None]:
    """The outcome of a RENEW, ROTATE, RETIRE or REVOKE saved on the locked credential:
    the audit entry's message, and the resource's fields it changed."""
    now, message, changed = timezone.now(), "", None
    if operation == Operation.ROTATE:
        _rotated(credential, outcome, now)
        if credential.holder == OWNER_HOLDER:  # the resource's credentials are the owner's
            credential.resource.credentials = credential.secret
            changed = ["credentials", "updated_at"]
    elif operation == Operation.RETIRE:
        dropped, kept = outcome
        credential.retiring = [each for each in credential.retiring
                               if each["login"] not in dropped]
        credential.retire_at = _first_until(credential.retiring)
        message = "; ".join([f"dropped {', '.join(dropped)}",
                             *_not_handed_over(credential, operation, kept)])
    elif operation == Operation.REVOKE:
        credential.status, credential.revoked_at = Status.REVOKED, now
        credential.pending_secret, credential.retiring, credential.retire_at = None, [], None
        message = "; ".join(_not_handed_over(credential, operation, outcome))
    credential.status_message = ""
    credential.save()
    return message, changed


def _not_handed_over(credential: Credential, operation: Operation, kept: list[str]
                     ) -> list[str]:
    """What a dropped login defined and could not hand over (it keeps that login, locked),
    logged in full and said as tenants read failures."""
    return [failures.tenant_message(failures.log_failure(
        f"credential.{operation} of credential {credential.pk}", each),
        credential.resource.provider) for each in kept]


def describe_credential(credential: Credential) -> dict[str, Any]:
    """What an event says of a credential: never its secret."""
    return {
        "id": str(credential.pk),
        "holder": credential.holder,
        "access": credential.access,
        "username": credential.login,
        "status": credential.status,
        "expires_at": credential.expires_at.isoformat() if credential.expires_at else None,
    }


def _rotated(credential: Credential, issued: Credentials, now: datetime) -> None:
    """The new login takes over; the replaced one is valid for the grace period more."""
    until = now + timedelta(seconds=credential.rotation_grace)
    credential.retiring = [*credential.retiring,
                           {"login": credential.login, "until": until.isoformat()}]
    credential.retire_at = _first_until(credential.retiring)
    credential.login, credential.secret = credential.pending_secret["username"], issued.as_dict()
    credential.status, credential.pending_secret, credential.rotated_at = (
        Status.ACTIVE, None, now)
    if credential.rotation_period:
        credential.next_rotation_at = now + timedelta(seconds=credential.rotation_period)


def _first_until(retiring: list[dict[str, str]]) -> datetime | None:
    return min((datetime.fromisoformat(each["until"]) for each in retiring), default=None)


def _failed(resource: Resource, credential_id: object, operation: Operation, actor: str,
            message: str) -> None:
    """Keep the detail for operators; the audit trail, which tenants read, gets what a
    tenant may read of it. A failed ISSUE or REVOKE leaves the credential in error; a
    failed RENEW, ROTATE or RETIRE leaves it working as it was, and says so. ``resource``:
    locked by the caller."""
    credential = Credential.objects.select_for_update().get(pk=credential_id)
    credential.resource = resource
    if operation in (Operation.ISSUE, Operation.REVOKE):
        credential.status, credential.status_message = Status.ERROR, message
    else:
        credential.status_message = f"{operation} failed: {message}"
        if operation == Operation.ROTATE:
            credential.status, credential.pending_secret = Status.ACTIVE, None
    credential.save()
    audit_credential(actor, f"credential.{operation}", Outcome.FAILURE, credential,
                     failures.tenant_message(message, credential.resource.provider))


def _not_runnable(credential_id: object, operation: Operation) -> None:
    """The resource no longer wants the operation. A deletion revokes the credential (its
    logins go with the resource); otherwise a waiting ISSUE or REVOKE leaves it in error,
    to be revoked, a rotation is called off, and a RENEW or RETIRE is left to the sweep."""
    with transaction.atomic():
        credential = Credential.objects.select_for_update().select_related("resource").get(
            pk=credential_id)
        resource_status = credential.resource.status
        if not wanted(operation, credential) or operation in (
                Operation.RENEW, Operation.RETIRE) or resource_status in (
                Resource.Status.DELETING, Resource.Status.DELETED):
            return
        if operation == Operation.ROTATE:
            credential.status, credential.pending_secret = Status.ACTIVE, None
            credential.status_message = f"not rotated: the resource is {resource_status}"
        else:
            credential.status = Status.ERROR
            credential.status_message = f"the resource is {resource_status}"
        credential.save()
