"""A consumer's own credentials: a login of its own on each resource it is given.

A delivery hands the builder the consumer's own active credential on the resource
(``with_own_credential``), never the owner's: the first delivery has it issued, by the
system for the holder ``consumer:<id>`` at the consumer's ``credential_access``, and is
retried as any transient failure until it is active (in-process, issuing runs at once).
Unmanaged resources, and those whose provider offers no logins of their own at that
level, are delivered with the resource's credentials. Once the tool holds a credential,
the consumer's older ones on that resource are revoked (``retire_older``), so that a level
change never leaves the tool with a dropped login.

What a consumer no longer needs is revoked in the transaction of the change that makes it
so: all of it when the consumer is deleted (``revoke_all``); when it is disabled, wants no
credentials any more, or no longer matches a resource (``reconcile``, which also clears
failed ones, so that the next delivery issues another); and when a resource no longer
matches it (``revoke_unmatched``, at the resource's events).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from contextlib import suppress
from uuid import UUID

from django.db import transaction
from django.db.models import QuerySet

from consumers.builders.base import ConsumerBuilder, DeliveryError, ResourceEvent
from consumers.matching import builder_of, matches
from consumers.models import Consumer
from providers.adapters.base import Credentials
from resourcemanager.core.errors import Conflict, InvalidInput
from resourcemanager.identity.roles import SYSTEM, Action
from resourcemanager.outbox import relay
from resourcemanager.resources import failures
from resourcemanager.resources.credentials import issue_credential, revoke_credential
from resourcemanager.resources.models import CONSUMER_HOLDER, Credential, Resource

Status = Credential.Status
#: No longer live: being revoked, or revoked.
_GONE = [Status.REVOKING, Status.REVOKED]
#: Refusals to issue after which the resource's own credentials are delivered instead.
_NOT_OFFERED = {"not_offered", "unmanaged"}


def holder_of(consumer: Consumer) -> str:
    """The holder its credentials are issued to: ``consumer:<id>``."""
    return f"{CONSUMER_HOLDER}{consumer.pk}"


def consumer_ids_of(holders: Iterable[str]) -> set[UUID]:
    """The consumers that ``holders`` name (others' holders are left out)."""
    ids = set()
    for holder in holders:
        if holder.startswith(CONSUMER_HOLDER):
            with suppress(ValueError):
                ids.add(UUID(holder.removeprefix(CONSUMER_HOLDER)))
    return ids


def held_by(consumer: Consumer) -> QuerySet[Credential]:
    """The consumer's live credentials (issuing, active, rotating or in error), newest
    first."""
    return (Credential.objects.visible_to(SYSTEM, Action.VIEW_CREDENTIAL, consumer.scope)
            .filter(holder=holder_of(consumer)).exclude(status__in=_GONE))


def with_own_credential(
    consumer: Consumer, builder: ConsumerBuilder, resource_id: UUID, event: ResourceEvent
) -> tuple[ResourceEvent, Credential | None]:
    """``event`` with the consumer's own login to the resource in place of the resource's,
    and that credential (None when the resource's credentials serve, or none are wanted).

    Raises ``DeliveryError``: transient while the login is being issued or rotated; final
    when it could not be issued, or the consumer is not to have one (disabled or retagged
    meanwhile).
    """
    if event.credentials is None or not builder.wants_credentials():
        return event, None
    resource = (Resource.objects.visible_to(SYSTEM, Action.VIEW_RESOURCE, consumer.scope)
                .select_related("provider").with_id(resource_id))
    if resource is None:
        raise DeliveryError("the resource is not in the consumer's scope", transient=False)
    if not resource.managed:
        return event, None
    try:
        credential = own_credential(consumer, resource)
    except Conflict as exc:
        if exc.code in _NOT_OFFERED:
            return event, None
        raise DeliveryError(f"no login of its own to the resource: {exc.message}",
                            transient=False) from None
    if credential is None:
        raise DeliveryError("the consumer is disabled or no longer matches the resource",
                            transient=False)
    if credential.status == Status.ACTIVE:
        own = Credentials.from_dict(credential.secret)
        return dataclasses.replace(event, credentials=own), credential
    if credential.status in (Status.ISSUING, Status.ROTATING):  # the tool gets the new one
        raise DeliveryError(f"its own {credential.access} login to the resource is being "
                            f"{'issued' if credential.status == Status.ISSUING else 'rotated'}")
    reason = failures.tenant_message(credential.status_message, resource.provider)
    raise DeliveryError(f"its own {credential.access} login to the resource could not be "
                        f"issued ({reason}); sync the consumer to issue another",
                        transient=False)


def own_credential(consumer: Consumer, resource: Resource) -> Credential | None:
    """The consumer's live credential on ``resource`` at its access level, issued now if it
    has none (in-process, the issuing has run when this returns); None when the consumer
    is not to have one. The consumer's row is locked meanwhile, so that a change or
    deletion of it sees the credential and revokes it if need be.

    Raises ``InvalidInput`` for a resource of another scope, and the issuing's refusals
    (``Conflict``: ``not_offered``, ``unmanaged``, ``not_ready``).
    """
    if resource.scope != consumer.scope:
        raise InvalidInput(f"consumer {consumer.pk} is not of the scope {resource.scope}",
                           field="holder")
    with transaction.atomic():
        locked = Consumer.objects.select_for_update().filter(pk=consumer.pk).first()
        if locked is None or not wanted(locked, resource):
            return None
        credential = held_by(locked).filter(resource=resource,
                                            access=locked.credential_access).first()
        if credential is None:
            credential, _ = issue_credential(SYSTEM, resource, holder=holder_of(locked),
                                             access=locked.credential_access)
    credential.refresh_from_db()
    return credential


def wanted(consumer: Consumer, resource: Resource) -> bool:
    """Whether ``consumer`` is to hold a login on ``resource`` as things are now: it is
    enabled, its builder sends credentials, and it matches the resource."""
    if not consumer.enabled or resource.status == Resource.Status.DELETED:
        return False
    try:
        if not builder_of(consumer).wants_credentials():
            return False
    except LookupError:
        return False
    return matches(consumer, relay.describe(resource), resource.provider.provider_class)


def retire_older(kept: Credential) -> int:
    """Revoke its holder's credentials on its resource issued before ``kept``, once the
    tool holds ``kept``. Returns how many."""
    older = (Credential.objects.visible_to(SYSTEM, Action.VIEW_CREDENTIAL, kept.scope)
             .filter(resource_id=kept.resource_id, holder=kept.holder,
                     created_at__lt=kept.created_at)
             .exclude(status__in=_GONE))
    return _revoke(older)


def reconcile(consumer: Consumer) -> int:
    """Revoke the consumer's credentials it no longer needs, as it is now (call it in the
    transaction that changed it): every one when it is disabled or sends no credentials,
    those on resources it no longer matches, and failed ones (the next delivery issues
    another). Returns how many."""
    held = held_by(consumer).select_related("resource__provider")
    return _revoke(credential for credential in held
                   if credential.status == Status.ERROR
                   or not wanted(consumer, credential.resource))


def revoke_all(consumer: Consumer) -> int:
    """Revoke every credential of ``consumer`` (it is being deleted). Returns how many."""
    return _revoke(held_by(consumer))


def revoke_unmatched(resource: Resource) -> int:
    """Revoke the consumers' credentials on ``resource`` that it no longer matches as it
    is now (retagged), or whose consumer is gone or wants none. Returns how many."""
    held = list(Credential.objects.visible_to(SYSTEM, Action.VIEW_CREDENTIAL, resource.scope)
                .filter(resource=resource, holder__startswith=CONSUMER_HOLDER)
                .exclude(status__in=_GONE))
    if not held:
        return 0
    ids = consumer_ids_of(credential.holder for credential in held)
    consumers = {holder_of(consumer): consumer for consumer in
                 Consumer.objects.visible_to(SYSTEM, Action.VIEW_CONSUMER, resource.scope)
                 .filter(pk__in=ids)}
    return _revoke(credential for credential in held
                   if credential.holder not in consumers
                   or not wanted(consumers[credential.holder], resource))


def _revoke(credentials: Iterable[Credential]) -> int:
    revoked = 0
    for credential in credentials:
        revoke_credential(SYSTEM, credential)
        revoked += 1
    return revoked
