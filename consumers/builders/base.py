"""The small interface every consumer builder implements, and the values it receives.

A *builder* is one kind of tool (webhook, SQLPad, Metabase, …). A configured consumer
holds its properties (URL, account, secrets); for each resource event that reaches it,
``deliver`` makes the tool match the resource: create or update a connection for
``resource.created``/``updated``/``checked``, remove it for ``resource.deleted``; builders
with ``credential_events`` also get ``credential.issued``/``renewed``/``rotated``/
``revoked``. Delivery is at least once, so ``deliver`` must be idempotent
(update-or-create by a stable name).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from providers.adapters.base import Access, Credentials
from providers.adapters.properties import PropertySpec

CREATED = "resource.created"
UPDATED = "resource.updated"
CHECKED = "resource.checked"
DELETED = "resource.deleted"


@dataclass(frozen=True)
class ResourceEvent:
    """What a builder learns of one resource event.

    ``resource`` is the event's description (id, scope, name, type, provider, managed,
    status, tags); ``provider_class`` tells the backend (``postgresql``, ``mysql``,
    ``mongodb``, ``s3``). ``credentials`` are the consumer's own login to the resource
    (the resource's credentials where its provider offers no logins of their own), or None
    once it is deleted and for a builder that wants none (``wants_credentials``).
    """

    id: int
    name: str
    scope: str
    resource: dict[str, Any]
    provider_class: str
    actor: str
    occurred_at: str
    credentials: Credentials | None = field(default=None, repr=False)
    #: An event about one of the resource's credentials (``credential.issued`` …) says
    #: which (``id``, ``holder``, ``access``, ``username``, ``status``, ``expires_at``;
    #: never a secret); None for the resource's own events.
    credential: dict[str, Any] | None = None

    @property
    def connection_name(self) -> str:
        """A stable, readable name for the tool's connection: the same on every event."""
        return f"{self.scope}/{self.resource['name']} ({self.resource['id'][:8]})"


#: Longest a builder waits for one answer of its tool, in seconds.
MAX_TIMEOUT = 120


def timeout_property(description: str) -> PropertySpec:
    """The ``timeout`` property of builders that call a tool: 10 s unless set."""
    return PropertySpec(description, kind="integer", default=10, minimum=1, maximum=MAX_TIMEOUT)


class DeliveryError(Exception):
    """The tool refused or could not be reached. The message must hold no secret.

    ``transient`` marks failures worth retrying (unreachable, 5xx, timeouts).
    """

    def __init__(self, message: str, *, transient: bool = True) -> None:
        super().__init__(message)
        self.message = message
        self.transient = transient


class ConsumerBuilder(ABC):
    """One kind of tool. An instance serves one configured consumer."""

    key: ClassVar[str]
    label: ClassVar[str]
    #: Resource types (``sql``, ``nosql``, ``object``) it can do something with.
    resource_types: ClassVar[frozenset[str]]
    #: Provider classes it understands within those types; empty: all of them.
    provider_classes: ClassVar[frozenset[str]] = frozenset()
    properties: ClassVar[dict[str, PropertySpec]] = {}
    #: The access level of a consumer's own login to each resource, unless it sets another.
    credential_access: ClassVar[Access] = Access.READ_ONLY
    #: It is also told of the resources' credentials being issued, renewed, rotated and
    #: revoked (``credential.*`` events); tools that only hold connections are not.
    credential_events: ClassVar[bool] = False

    def __init__(self, properties: dict[str, Any]) -> None:
        self.config = properties

    def accepts(self, event: ResourceEvent) -> bool:
        return event.resource.get("type") in self.resource_types and (
            not self.provider_classes or event.provider_class in self.provider_classes
        )

    def wants_credentials(self) -> bool:
        """Whether events reach the tool with a login to the resource; a consumer is
        given one of its own only then."""
        return True

    @abstractmethod
    def deliver(self, event: ResourceEvent) -> None:
        """Make the tool reflect the event; raise DeliveryError when it cannot."""
