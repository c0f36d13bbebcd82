"""Outbox messages: operations and events written with the change they stem from."""

from __future__ import annotations

from datetime import datetime

from django.db import models


class OutboxQuerySet(models.QuerySet["OutboxMessage"]):
    def unpublished(self) -> OutboxQuerySet:
        return self.filter(published_at__isnull=True)

    def due(self, lost_after: datetime) -> OutboxQuerySet:
        """Never published, or published before ``lost_after`` and still not handled."""
        return self.filter(handled_at__isnull=True).filter(
            models.Q(published_at__isnull=True) | models.Q(published_at__lt=lost_after)
        )


class OutboxMessage(models.Model):
    """A message written in the same transaction as the state change it stems from.

    The relay (``resourcemanager.outbox.relay``) publishes it to the task queue and marks it
    published, so a broker outage delays work and events but loses none. Payloads never
    hold secrets: handlers read credentials from the resource when they need them.
    """

    class Kind(models.TextChoices):
        OPERATION = "operation", "provider operation"
        EVENT = "event", "resource event"

    id = models.BigAutoField(primary_key=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    #: The operation (``create`` …) or the event (``resource.created`` …).
    name = models.CharField(max_length=64)
    scope = models.CharField(max_length=63, db_index=True)
    resource_id = models.UUIDField(null=True, blank=True, db_index=True)
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)
    published_at = models.DateTimeField(null=True, blank=True)
    #: Set by the task that carried it out. A message published but never handled (the
    #: broker lost it) is published again after ``RM_OPERATION_TIMEOUT``.
    handled_at = models.DateTimeField(null=True, blank=True)
    publish_attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    objects = OutboxQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(
                fields=["id"],
                condition=models.Q(handled_at__isnull=True),
                name="outbox_unhandled",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.name} #{self.pk}"
