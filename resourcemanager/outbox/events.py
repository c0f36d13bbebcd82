"""Resource events as handlers see them, and the handlers that receive them.

``RM_EVENT_HANDLERS`` lists dotted paths of callables taking an ``Event``; each event from
the outbox is handed to every one of them, at least once. Handlers must be idempotent
(``Event.id`` is stable across redeliveries) and must not raise for a resource that has
gone meanwhile.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

from resourcemanager.outbox.models import OutboxMessage

logger = logging.getLogger(__name__)

CREATED = "resource.created"
UPDATED = "resource.updated"
CHECKED = "resource.checked"
DELETED = "resource.deleted"
#: The resource's data backed up, or a backup of it restored into it.
BACKED_UP = "resource.backed_up"
RESTORED = "resource.restored"
#: The CHECK sweep froze the resource over a size limit, or lifted the freeze.
FROZEN = "resource.frozen"
UNFROZEN = "resource.unfrozen"
#: The resource emptied (and a template restored into it, if one was asked for), and a
#: resource made as a copy of another one's data (the event is the copy's).
CLEANED_UP = "resource.cleaned_up"
CLONED = "resource.cloned"
#: A credential's operation done: issued, renewed, rotated (its ``holder`` must be given
#: the new login before the replaced one goes), revoked (by request, or at expiry). The
#: event names the holder and describes the credential, never with its secret.
CREDENTIAL_ISSUED = "credential.issued"
CREDENTIAL_RENEWED = "credential.renewed"
CREDENTIAL_ROTATED = "credential.rotated"
CREDENTIAL_REVOKED = "credential.revoked"
CREDENTIAL_EVENTS = frozenset({CREDENTIAL_ISSUED, CREDENTIAL_RENEWED, CREDENTIAL_ROTATED,
                               CREDENTIAL_REVOKED})


@dataclass(frozen=True)
class Event:
    id: int
    name: str
    scope: str
    resource: dict[str, Any]
    actor: str
    occurred_at: datetime
    #: The credential holder an event about one credential names (else empty).
    holder: str = ""
    #: What an event about one credential says of it (``id``, ``holder``, ``access``,
    #: ``username``, ``status``, ``expires_at``; else empty).
    credential: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_message(cls, message: OutboxMessage) -> Event:
        return cls(
            id=message.pk,
            name=message.name,
            scope=message.scope,
            resource=message.payload["resource"],
            actor=message.payload.get("actor", ""),
            occurred_at=message.created_at,
            holder=message.payload.get("holder", ""),
            credential=message.payload.get("credential", {}),
        )


def deliver(message_id: int) -> None:
    """Hand the event stored as outbox row ``message_id`` to every configured handler."""
    message = OutboxMessage.objects.filter(pk=message_id, kind=OutboxMessage.Kind.EVENT).first()
    if message is None:
        logger.warning("event #%s no longer exists; nothing to deliver", message_id)
        return
    event = Event.from_message(message)
    for handler in handlers():
        handler(event)


#: Where the built-in handlers lived in earlier versions, so that an ``RM_EVENT_HANDLERS``
#: written for them keeps working.
MOVED_HANDLERS = {
    "resourcemanager.events.log_event": "resourcemanager.outbox.events.log_event",
    "consumers.services.fan_out": "consumers.deliveries.fan_out",
}


@cache
def handlers() -> tuple[Callable[[Event], None], ...]:
    return tuple(
        import_string(MOVED_HANDLERS.get(path, path)) for path in settings.RM_EVENT_HANDLERS
    )


def log_event(event: Event) -> None:
    """The default handler: one log line per event."""
    logger.info(
        "%s %s/%s (%s) by %s",
        event.name,
        event.scope,
        event.resource.get("name"),
        event.resource.get("id"),
        event.actor,
    )
