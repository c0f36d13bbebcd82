"""Consumers (tools told of a scope's resource events) and their deliveries."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from resourcemanager.core.fields import EncryptedJSONField
from resourcemanager.identity.querysets import ScopedQuerySet
from resourcemanager.resources.models import Credential


class Consumer(models.Model):
    """A tool registered in a scope. ``properties`` (secrets included) are stored encrypted."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    scope = models.CharField(max_length=63, db_index=True)
    #: Key of a builder in ``consumers.builders.registry``.
    builder = models.CharField(max_length=32)
    name = models.CharField(max_length=63)
    #: Only resources sharing one of these tags reach the consumer; empty: all of them.
    tags = models.JSONField(default=list, blank=True)
    #: Only these resource types (``sql`` …) reach it; empty: all the builder handles.
    resource_types = models.JSONField(default=list, blank=True)
    properties = EncryptedJSONField(default=dict, blank=True)
    enabled = models.BooleanField(default=True)
    #: The access level of the login of its own it is given on each resource (where the
    #: resource's provider offers such logins); a new consumer takes its builder's. The
    #: database's own default lets the previous version add consumers during an upgrade.
    credential_access = models.CharField(
        max_length=16, choices=Credential.Access.choices, default=Credential.Access.READ_ONLY,
        db_default=Credential.Access.READ_ONLY,
    )
    #: Deliveries that failed in a row in a way worth retrying; reaching
    #: ``RM_CONSUMER_BREAKER_FAILURES`` pauses the consumer (``consumers.breaker``).
    failures_in_a_row = models.PositiveIntegerField(default=0, db_default=0, editable=False)
    #: Its deliveries wait until then; null: not paused.
    paused_until = models.DateTimeField(null=True, blank=True, editable=False)
    #: When the drain queued for it is to run (``consumers.drains``); null: none queued.
    drain_queued_at = models.DateTimeField(null=True, blank=True, editable=False)
    #: A drain holds it until then (one drain at a time); null: none runs.
    draining_until = models.DateTimeField(null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        ordering = ["scope", "name"]
        constraints = [
            models.UniqueConstraint(fields=["scope", "name"], name="unique_consumer_name")
        ]

    def __str__(self) -> str:
        return f"{self.scope}/{self.name}"


class Delivery(models.Model):
    """One event to deliver to one consumer. The event's description is kept here (it
    holds no secret); credentials are looked up when delivering (``consumers.credentials``).

    ``event_id`` is the outbox row of the event, so handing the same event over twice
    makes one delivery. Deliveries made by a sync have none.
    """

    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"
        #: Nothing to deliver any more (the resource lost its credentials meanwhile).
        SKIPPED = "skipped"

    id = models.BigAutoField(primary_key=True)
    consumer = models.ForeignKey(Consumer, on_delete=models.CASCADE, related_name="deliveries")
    event_id = models.BigIntegerField(null=True, blank=True)
    event = models.CharField(max_length=64)
    resource_id = models.UUIDField(db_index=True)
    resource = models.JSONField(default=dict)
    #: What a ``credential.*`` event says of its credential (no secret); else empty.
    credential = models.JSONField(default=dict, blank=True)
    provider_class = models.CharField(max_length=32)
    actor = models.CharField(max_length=150, blank=True)
    occurred_at = models.DateTimeField()
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    attempts = models.PositiveIntegerField(default=0)
    #: The last failed attempt's reason and time; kept once a later attempt succeeds (the
    #: delivery's ``delivered_at`` is then the later), set by nothing but a failed attempt.
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    #: Why a ``skipped`` delivery was not attempted (not an error of the consumer).
    skip_reason = models.TextField(blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    #: Set while an attempt talks to the consumer (no row lock is held meanwhile); the
    #: attempt records its outcome only if ``attempts`` still counts it.
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["consumer", "event_id"],
                condition=models.Q(event_id__isnull=False),
                name="unique_delivery_per_event",
            )
        ]

    def __str__(self) -> str:
        return f"{self.event} of {self.resource.get('name', self.resource_id)} #{self.pk}"
