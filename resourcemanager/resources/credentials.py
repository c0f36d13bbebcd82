"""Credentials: logins of their own to a resource, one per holder and access level.

Requests (ISSUE, RENEW, ROTATE, REVOKE) check access and input, write the credential (its
secret encrypted) and the audit entry, and queue the operation through the outbox in one
transaction; ``resourcemanager.resources.credential_runs`` carries it out. The secret is
in the answer to the request that issued or rotated the credential; afterwards only an
audited reveal shows it, to its holder or whoever manages the scope's credentials.
"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from audit.models import AuditEntry
from providers.adapters.base import Access, Credentials, ProviderAdapter
from providers.adapters.naming import new_login_name, new_password
from resourcemanager.core import datakeys
from resourcemanager.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from resourcemanager.core.validation import validate_seconds
from resourcemanager.identity.access import principal_for
from resourcemanager.identity.principals import fresh_claim_roles
from resourcemanager.identity.roles import SYSTEM, Action, Principal, require, require_member
from resourcemanager.outbox import relay
from resourcemanager.resources import quotas
from resourcemanager.resources.credential_runs import audit_credential
from resourcemanager.resources.models import (
    CONSUMER_HOLDER,
    OWNER_HOLDER,
    USER_HOLDER,
    Credential,
    Resource,
)
from resourcemanager.resources.operations import Operation, locked_resource
from resourcemanager.resources.services import get_resource
from resourcemanager.scopes.models import ScopeSettings
from resourcemanager.scopes.services import (
    MIN_TTL,
    credential_ceiling,
    settings_of,
)

Outcome = AuditEntry.Outcome
Status = Credential.Status
#: An application's name, or ``user:`` and a user name.
_APPLICATION = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")
#: Access levels from least to most, for the scope's self-service ceiling.
_SELF_SERVICE_LEVELS = [Access.READ_ONLY, Access.READ_WRITE, Access.OWNER]
#: The longest a replaced login may stay valid after a rotation.
MAX_GRACE = 7 * 24 * 3600


def issue_credential(
    principal: Principal, resource: Resource, *, holder: str, access: str,
    ttl: int | None = None, max_ttl: int | None = None, rotation_period: int | None = None,
) -> tuple[Credential, Credentials | None]:
    """A new credential for ``holder`` on ``resource``, and its secret (shown this once;
    None where the backend makes it: then the credential carries it once issued).

    With a ``ttl`` it expires that many seconds from now; RENEW extends it, never past
    ``max_ttl`` (default: the ceiling) from now. ``rotation_period`` rotates it on schedule.
    """
    _member_with_key(principal, resource.scope)
    with transaction.atomic():
        return _issue(principal, locked_resource(resource.pk), holder=holder, access=access,
                      ttl=ttl, max_ttl=max_ttl, rotation_period=rotation_period)


def issue_visible_credential(
    principal: Principal, scope: str, resource_id: object, **request: Any
) -> tuple[Credential, Credentials | None]:
    """``issue_credential`` on the resource with ``resource_id`` in ``scope`` if
    ``principal`` may see it (else NotFound), read once: locked."""
    _member_with_key(principal, scope)
    with transaction.atomic():
        return _issue(principal, get_resource(principal, scope, resource_id, locked=True),
                      **request)


def _issue(
    principal: Principal, resource: Resource, *, holder: str, access: str,
    ttl: int | None = None, max_ttl: int | None = None, rotation_period: int | None = None,
) -> tuple[Credential, Credentials | None]:
    """ISSUE on ``resource``, locked in the current transaction (``_member_with_key``
    before it)."""
    policy = settings_of(resource.scope)
    holder = _valid_holder(holder, resource.scope, principal)
    adapter = resource.provider.adapter()
    access = _valid_access(access, adapter.login_access, adapter.label)
    _require_manager_or_self_service(principal, resource.scope, holder, access, policy)
    if rotation_period is not None and not principal.can(Action.MANAGE_CREDENTIAL,
                                                         resource.scope):
        raise Forbidden("rotation schedules are set by the scope's RESOURCE_ADMIN or ADMIN; "
                        "issue without rotation_period")
    if ttl is None and not holder.startswith(CONSUMER_HOLDER):  # lives as its consumer
        ttl = policy.credential_default_ttl
    lifetime = _valid_lifetime(ttl, max_ttl, credential_ceiling(policy))
    period = None if rotation_period is None else validate_seconds(
        rotation_period, "rotation_period", minimum=MIN_TTL)
    now = timezone.now()
    resource = _ready(resource)
    quotas.require_room(resource.scope, credentials=1)
    login = new_login_name(resource.backend_name)
    secret = _new_secret(adapter, resource, login)
    credential = Credential.objects.create(
        scope=resource.scope, resource=resource, holder=holder, access=access,
        login=login, secret=_stored(secret, login), issued_by=principal.name,
        ttl=lifetime and lifetime[0],
        expires_at=lifetime and now + timedelta(seconds=lifetime[0]),
        max_expires_at=lifetime and now + timedelta(seconds=lifetime[1]),
        rotation_period=period,
        next_rotation_at=period and now + timedelta(seconds=period),
    )
    audit_credential(principal.name, "credential.issue", Outcome.ACCEPTED, credential)
    relay.enqueue_credential_operation(resource, credential.pk, Operation.ISSUE,
                                       principal.name)
    return credential, secret


def _member_with_key(principal: Principal, scope: str) -> None:
    """Refuse a non-member of ``scope``; then read the scope's current data key, before
    the ISSUE's transaction: read outside one, a process keeps it for its next ISSUEs
    (``datakeys.current_key``), so that encrypting the secret reads nothing."""
    require_member(principal, scope)
    datakeys.current_key(scope)


def revoke_credential(principal: Principal, credential: Credential) -> Credential:
    """Drop the credential's logins and end their sessions (queued); revoking again is a
    no-op."""
    _require_manager_or_self_service(principal, credential.scope, credential.holder)
    with transaction.atomic():
        credential = _locked(credential)
        if credential.status in (Status.REVOKING, Status.REVOKED):
            return credential
        if credential.holder == OWNER_HOLDER:
            raise Conflict("the owner's credential ends with the resource; rotate it to "
                           "replace its login, or delete the resource", code="owner_credential")
        credential.status, credential.status_message = Status.REVOKING, ""
        credential.save(update_fields=["status", "status_message", "updated_at"])
        audit_credential(principal.name, "credential.revoke", Outcome.ACCEPTED, credential)
        relay.enqueue_credential_operation(credential.resource, credential.pk,
                                           Operation.REVOKE, principal.name)
    return credential


def renew_credential(
    principal: Principal, credential: Credential, *, ttl: int | None = None
) -> Credential:
    """Let the credential expire ``ttl`` seconds (default: its own ttl) from now, never
    past its ``max_expires_at``; the backend's expiry follows (queued)."""
    _require_manager_or_self_service(principal, credential.scope, credential.holder)
    seconds = None if ttl is None else validate_seconds(ttl, "ttl", minimum=MIN_TTL)
    now = timezone.now()
    with transaction.atomic():
        credential = _locked(credential)
        expired = credential.expires_at is not None and credential.expires_at <= now
        if expired or credential.status not in (Status.ACTIVE, Status.ROTATING):
            state = "expired" if expired else credential.status
            raise Conflict(f"the credential is {state}; issue a new one",
                           code="expired" if expired else "not_active")
        if credential.expires_at is None:
            raise Conflict("this credential does not expire; there is nothing to renew",
                           code="no_expiry")
        wanted = now + timedelta(seconds=seconds or credential.ttl or 0)
        if credential.max_expires_at is not None and wanted > credential.max_expires_at:
            if seconds is not None:
                raise InvalidInput(
                    "ttl would reach past the credential's max_ttl (it may live until "
                    f"{credential.max_expires_at.isoformat()})", field="ttl")
            wanted = credential.max_expires_at
        credential.expires_at = wanted
        credential.save(update_fields=["expires_at", "updated_at"])
        audit_credential(principal.name, "credential.renew", Outcome.ACCEPTED, credential,
                         f"until {wanted.isoformat()}")
        relay.enqueue_credential_operation(credential.resource, credential.pk,
                                           Operation.RENEW, principal.name)
    return credential


def rotate_credential(
    principal: Principal, credential: Credential, *, grace: int | None = None
) -> tuple[Credential, Credentials | None]:
    """Replace the credential's login by a new one, and return the new secret (None
    where the backend makes it): it works
    once the rotation is done (status active again); the replaced login keeps working
    for ``grace`` seconds (default ``RM_CREDENTIAL_ROTATION_GRACE``) more."""
    require(principal, Action.MANAGE_CREDENTIAL, credential.scope)
    grace = settings.RM_CREDENTIAL_ROTATION_GRACE if grace is None else validate_seconds(
        grace, "grace", minimum=0, maximum=MAX_GRACE)
    with transaction.atomic():
        credential, secret = start_rotation(credential, grace)
        audit_credential(principal.name, "credential.rotate", Outcome.ACCEPTED, credential)
        relay.enqueue_credential_operation(credential.resource, credential.pk,
                                           Operation.ROTATE, principal.name)
    return credential, secret


def schedule_rotation(
    principal: Principal, credential: Credential, *, rotation_period: int | None
) -> Credential:
    """Rotate the credential every ``rotation_period`` seconds from now on (None: no more
    scheduled rotations); the owner's credential too, so a resource's owner rotates on
    schedule."""
    require(principal, Action.MANAGE_CREDENTIAL, credential.scope)
    period = None if rotation_period is None else validate_seconds(
        rotation_period, "rotation_period", minimum=MIN_TTL)
    with transaction.atomic():
        credential = _locked(credential)
        if credential.status in (Status.REVOKING, Status.REVOKED):
            raise Conflict(f"the credential is {credential.status}", code="not_active")
        credential.rotation_period = period
        credential.next_rotation_at = period and timezone.now() + timedelta(seconds=period)
        credential.save(update_fields=["rotation_period", "next_rotation_at", "updated_at"])
        audit_credential(principal.name, "credential.schedule", Outcome.SUCCESS, credential,
                         f"every {period} s" if period else "no scheduled rotation")
    return credential


def start_rotation(credential: Credential, grace: int
                   ) -> tuple[Credential, Credentials | None]:
    """In the caller's transaction: mark ``credential`` rotating towards a new login, and
    return that login's secret; the caller queues the ROTATE run."""
    # The resource before the credential, in the order the runs lock them.
    resource = locked_resource(credential.resource_id)
    credential = _locked(credential)
    if credential.status == Status.ROTATING:
        raise Conflict("a rotation of this credential is under way", code="rotation_running")
    if credential.status != Status.ACTIVE:
        raise Conflict(f"the credential is {credential.status}; only an active one rotates",
                       code="not_active")
    _ready(resource)
    adapter = resource.provider.adapter()
    if credential.holder == OWNER_HOLDER and not adapter.owner_rotates:
        raise Conflict(f"{adapter.label} does not rotate the owner's login yet",
                       code="not_offered")
    login = new_login_name(resource.backend_name)
    secret = _new_secret(adapter, resource, login)
    credential.status, credential.status_message = Status.ROTATING, ""
    credential.pending_secret, credential.rotation_grace = _stored(secret, login), grace
    credential.save(update_fields=["status", "status_message", "pending_secret",
                                   "rotation_grace", "updated_at"])
    return credential, secret


def reveal_credential(principal: Principal, credential: Credential) -> Credentials:
    """The credential's current secret, for its holder or whoever manages the scope's
    credentials; audited."""
    if not _holds(principal, credential.holder):
        require(principal, Action.MANAGE_CREDENTIAL, credential.scope)
    if credential.status not in (Status.ACTIVE, Status.ROTATING):
        raise Conflict(f"the credential is {credential.status}; it has no secret to reveal",
                       code="not_active")
    audit_credential(principal.name, "credential.reveal", Outcome.SUCCESS, credential)
    return Credentials.from_dict(credential.secret)


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


def may_change(principal: Principal | None, scope: str, holder: str) -> bool:
    """Whether ``principal`` may issue (up to the scope's self-service level), renew and
    revoke credentials of ``holder`` in ``scope``: what the admin's pages offer. The
    requests ask the same rule."""
    if principal is None:
        return False
    try:
        _require_manager_or_self_service(principal, scope, holder)
    except Forbidden:
        return False
    return True


def _holds(principal: Principal, holder: str) -> bool:
    return principal.user_id is not None and holder == f"{USER_HOLDER}{principal.name}"


def _require_manager_or_self_service(
    principal: Principal, scope: str, holder: str, access: str | None = None,
    policy: ScopeSettings | None = None,
) -> None:
    """Credential managers act on every credential of the scope; a member acts on those
    it holds itself when the scope's self-service allows ``access``."""
    if principal.can(Action.MANAGE_CREDENTIAL, scope):
        return
    allowed = (policy or settings_of(scope)).credential_self_service
    if not allowed or not _holds(principal, holder):
        require(principal, Action.MANAGE_CREDENTIAL, scope)  # refused
    if access is not None and _SELF_SERVICE_LEVELS.index(access) > _SELF_SERVICE_LEVELS.index(
            allowed):
        raise Forbidden(f"this scope lets users issue themselves {allowed} credentials at most")


def _new_secret(adapter: ProviderAdapter, resource: Resource, login: str) -> Credentials | None:
    """The connection fields of a new login with a new password; None where the backend
    makes the secret itself (S3 keys): the run stores it, a reveal shows it."""
    if adapter.login_secret_from_backend:
        return None
    return adapter.credentials(adapter.object_name(resource.backend_name), new_password(),
                               login=login)


def _stored(secret: Credentials | None, login: str) -> dict[str, object]:
    return secret.as_dict() if secret is not None else {"username": login}


def _locked(credential: Credential) -> Credential:
    """The credential and its resource, locked; the provider comes along unlocked (the
    answer names its failures in the provider's terms)."""
    return (Credential.objects.select_for_update(of=("self", "resource"))
            .select_related("resource__provider").get(pk=credential.pk))


def _ready(resource: Resource) -> Resource:
    if not resource.managed:
        raise Conflict("an unmanaged resource has no credentials of its own", code="unmanaged")
    if resource.status != Resource.Status.READY:
        raise Conflict(f"the resource is {resource.status}; credentials are issued and "
                       "rotated on ready resources", code="not_ready")
    return resource


def _valid_holder(holder: object, scope: str, principal: Principal) -> str:
    text = str(holder or "").strip()
    if text.startswith(CONSUMER_HOLDER):
        return _consumer_holder(text, principal)
    if text.startswith(USER_HOLDER):
        username = text.removeprefix(USER_HOLDER)
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        member = user is not None and principal_for(user, fresh_claim_roles(user))
        if not member or not member.member_of(scope):
            # The same answer for unknown users: no probing beyond the scope.
            raise InvalidInput(f"{username!r} is not an active member of this scope",
                               field="holder")
        return text
    if not _APPLICATION.fullmatch(text):
        raise InvalidInput("a holder is an application's name (lowercase letters, digits, "
                           "'.', '_', '-'; at most 63) or user:<username>", field="holder")
    return text


def _consumer_holder(text: str, principal: Principal) -> str:
    """Only the system names a consumer as holder: the consumers app, which checked that
    the consumer is of the resource's scope (this module knows nothing of consumers). A
    request naming one is refused alike whichever consumer it names, so that it learns
    nothing of another scope's."""
    if principal is not SYSTEM:
        raise InvalidInput("consumer:<id> credentials are issued by the consumer's own "
                           "deliveries, not on request", field="holder")
    try:
        uuid.UUID(text.removeprefix(CONSUMER_HOLDER))
    except ValueError:
        raise InvalidInput("a consumer holder is consumer:<consumer id>",
                           field="holder") from None
    return text


def _valid_access(access: object, offered: frozenset[Access], label: str) -> str:
    if access not in set(Access):
        raise InvalidInput(f"access is one of {', '.join(Access)}", field="access")
    if access not in offered:
        raise Conflict(f"{label} resources do not offer {access} credentials yet",
                       code="not_offered", field="access")
    return str(access)


def _valid_lifetime(ttl: object, max_ttl: object, ceiling: int | None
                    ) -> tuple[int, int] | None:
    """``(ttl, max_ttl)`` in seconds, or None for a credential that does not expire."""
    if ttl is None:
        if max_ttl is not None:
            raise InvalidInput("max_ttl goes with a ttl", field="max_ttl")
        return None
    ttl = validate_seconds(ttl, "ttl", minimum=MIN_TTL, maximum=ceiling)
    if max_ttl is None:
        return ttl, max(ttl, ceiling or ttl)
    return ttl, validate_seconds(max_ttl, "max_ttl", minimum=ttl, maximum=ceiling)

