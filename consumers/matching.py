"""Which resources a consumer is given: its filters and its builder's reach."""

from __future__ import annotations

import logging
from typing import Any

from consumers.builders.base import ConsumerBuilder, ResourceEvent
from consumers.builders.registry import builder_class
from consumers.models import Consumer

logger = logging.getLogger(__name__)


def builder_of(consumer: Consumer) -> ConsumerBuilder:
    """The builder serving ``consumer``; LookupError for an unknown builder."""
    return builder_class(consumer.builder)(consumer.properties)


def matches(consumer: Consumer, resource: dict[str, Any], provider_class: str) -> bool:
    """Whether ``resource`` (its description, as events carry it) is for ``consumer``:
    its tags and type pass the consumer's filters and its builder handles it."""
    if consumer.tags and not set(consumer.tags) & set(resource.get("tags", [])):
        return False
    if consumer.resource_types and resource.get("type") not in consumer.resource_types:
        return False
    try:
        builder = builder_of(consumer)
    except LookupError:
        logger.warning("consumer %s has the unknown builder %r", consumer.pk, consumer.builder)
        return False
    probe = ResourceEvent(
        id=0, name="", scope=consumer.scope, resource=resource,
        provider_class=provider_class, actor="", occurred_at="",
    )
    return builder.accepts(probe)
