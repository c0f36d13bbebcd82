"""The ``log`` builder: one log line per event, for trying consumers out and for auditing."""

from __future__ import annotations

import logging

from consumers.builders.base import ConsumerBuilder, ResourceEvent

logger = logging.getLogger(__name__)


class LogBuilder(ConsumerBuilder):
    key = "log"
    label = "Log"
    resource_types = frozenset({"sql", "nosql", "object"})
    credential_events = True

    def wants_credentials(self) -> bool:
        return False

    def deliver(self, event: ResourceEvent) -> None:
        about = ""
        if event.credential:
            about = f" credential of {event.credential['holder']} ({event.credential['access']})"
        logger.info(
            "consumer event %s: %s (%s, %s)%s by %s",
            event.name,
            event.connection_name,
            event.resource.get("type"),
            event.provider_class,
            about,
            event.actor,
        )
