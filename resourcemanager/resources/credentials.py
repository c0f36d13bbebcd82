"""Credentials: logins of their own to a resource, one per holder and access level.

Requests check access and input, write the credential (its secret encrypted) and the
audit entry, and queue the operation through the outbox in one transaction;
``resourcemanager.resources.credential_runs`` carries it out. The secret is in the answer
to the request that issued the credential, and nowhere else afterwards.
"""

from __future__ import annotations

import re
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from audit.models import AuditEntry
from providers.adapters.base import Access, Credentials
from providers.adapters.naming import new_login_name, new_password
from resourcemanager.core.errors import Conflict, InvalidInput, NotFound
from resourcemanager.identity.roles import Action, Principal, require
from resourcemanager.outbox import relay
from resourcemanager.resources.credential_runs import audit_credential
from resourcemanager.resources.models import Credential, Resource
from resourcemanager.resources.operations import Operation, locked_resource

Outcome = AuditEntry.Outcome
Status = Credential.Status
#: An application's name, or ``user:`` and a user name.
_APPLICATION = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")
_USER_PREFIX = "user:"
MIN_TTL = 60


def issue_credential(
    principal: Principal, resource: Resource, *, holder: str, access: str,
    ttl: int | None = None,
) -> tuple[Credential, Credentials]:
    """A new credential for ``holder`` on ``resource``, and its secret (shown this once)."""
    require(principal, Action.MANAGE_CREDENTIAL, resource.scope)
    holder = _valid_holder(holder)
    adapter = resource.provider.adapter()
    access = _valid_access(access, adapter.login_access, adapter.label,
                           adapter.login_secret_from_backend)
    expires_at = None if ttl is None else timezone.now() + timedelta(seconds=_valid_ttl(ttl))
    with transaction.atomic():
        resource = locked_resource(resource.pk)
        if not resource.managed:
            raise Conflict("an unmanaged resource has no credentials of its own",
                           code="unmanaged")
        if resource.status != Resource.Status.READY:
            raise Conflict(f"the resource is {resource.status}; credentials are issued on "
                           "ready resources", code="not_ready")
        login = new_login_name(resource.backend_name)
        secret = adapter.credentials(adapter.object_name(resource.backend_name),
                                     new_password(), login=login)
        credential = Credential.objects.create(
            scope=resource.scope, resource=resource, holder=holder, access=access,
            login=login, secret=secret.as_dict(), expires_at=expires_at,
            issued_by=principal.name,
        )
        audit_credential(principal.name, "credential.issue", Outcome.ACCEPTED, credential)
        relay.enqueue_credential_operation(resource, credential.pk, Operation.ISSUE,
                                           principal.name)
    return credential, secret


def revoke_credential(principal: Principal, credential: Credential) -> Credential:
    """Drop the credential's login and end its sessions (queued); revoking again is a
    no-op."""
    require(principal, Action.MANAGE_CREDENTIAL, credential.scope)
    with transaction.atomic():
        credential = Credential.objects.select_for_update().select_related("resource").get(
            pk=credential.pk)
        if credential.status in (Status.REVOKING, Status.REVOKED):
            return credential
        credential.status, credential.status_message = Status.REVOKING, ""
        credential.save(update_fields=["status", "status_message", "updated_at"])
        audit_credential(principal.name, "credential.revoke", Outcome.ACCEPTED, credential)
        relay.enqueue_credential_operation(credential.resource, credential.pk,
                                           Operation.REVOKE, principal.name)
    return credential


def credentials_of(principal: Principal | None, resource: Resource) -> QuerySet[Credential]:
    """The credentials issued on ``resource`` that ``principal`` may see, newest first."""
    return (Credential.objects.visible_to(principal, Action.VIEW_CREDENTIAL, resource.scope)
            .filter(resource=resource).select_related("resource__provider"))


def get_credential(
    principal: Principal | None, resource: Resource, credential_id: object
) -> Credential:
    found = credentials_of(principal, resource).with_id(credential_id)
    if found is None:
        raise NotFound("no such credential on this resource")
    return found


def _valid_holder(holder: object) -> str:
    text = str(holder or "").strip()
    if text.startswith(_USER_PREFIX):
        username = text.removeprefix(_USER_PREFIX)
        if not get_user_model().objects.filter(username=username, is_active=True).exists():
            raise InvalidInput(f"no active user {username!r}", field="holder")
        return text
    if not _APPLICATION.fullmatch(text):
        raise InvalidInput("a holder is an application's name (lowercase letters, digits, "
                           "'.', '_', '-'; at most 63) or user:<username>", field="holder")
    return text


def _valid_access(access: object, offered: frozenset[Access], label: str,
                  secret_from_backend: bool) -> str:
    if access not in set(Access):
        raise InvalidInput(f"access is one of {', '.join(Access)}", field="access")
    if access not in offered or secret_from_backend:
        raise Conflict(f"{label} resources do not offer {access} credentials yet",
                       code="not_offered", field="access")
    return str(access)


def _valid_ttl(ttl: object) -> int:
    ceiling = settings.RM_CREDENTIAL_MAX_TTL
    if not isinstance(ttl, int) or isinstance(ttl, bool) or ttl < MIN_TTL:
        raise InvalidInput(f"ttl is a whole number of seconds, at least {MIN_TTL}",
                           field="ttl")
    if ceiling and ttl > ceiling:
        raise InvalidInput(f"ttl may be at most {ceiling} seconds here", field="ttl")
    return ttl
