"""Core models: resources, local scope memberships and API tokens."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone

from resourcemanager.fields import EncryptedJSONField
from resourcemanager.lookups import json_list_contains
from resourcemanager.querysets import ScopedQuerySet
from resourcemanager.roles import Role


class ResourceQuerySet(ScopedQuerySet):
    def live(self) -> ResourceQuerySet:
        return self.exclude(status=Resource.Status.DELETED)

    def with_tag(self, tag: str) -> ResourceQuerySet:
        return self.filter(**json_list_contains("tags", tag))


class Resource(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        CREATING = "creating"
        READY = "ready"
        ERROR = "error"
        DELETING = "deleting"
        DELETED = "deleted"

    class Type(models.TextChoices):
        SQL = "sql", "SQL"
        NOSQL = "nosql", "NoSQL"
        OBJECT = "object", "object storage"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    scope = models.CharField(max_length=63, db_index=True)
    provider = models.ForeignKey(
        "providers.Provider", on_delete=models.PROTECT, related_name="resources"
    )
    type = models.CharField(max_length=16, choices=Type.choices)
    name = models.CharField(max_length=63)
    #: What CREATE made on the backend; NULL for unmanaged (registered) resources, which
    #: keeps them out of the unique (provider, backend_name) constraint.
    backend_name = models.CharField(  # noqa: DJ001
        max_length=63, null=True, blank=True, editable=False
    )
    managed = models.BooleanField(default=True)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    status_message = models.TextField(blank=True)
    properties = models.JSONField(default=dict, blank=True)
    tags = models.JSONField(default=list, blank=True)
    credentials = EncryptedJSONField(null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_check_at = models.DateTimeField(null=True, blank=True)
    last_check_ok = models.BooleanField(null=True)
    last_check_message = models.TextField(blank=True)
    #: The provider operation running or last claimed (``create`` …), empty when none is
    #: under way; ``attempts`` counts its runs, across retries and re-queues.
    operation = models.CharField(max_length=16, blank=True, editable=False)
    attempts = models.PositiveIntegerField(default=0, editable=False)
    #: Held by the run talking to the backend (no row lock is held meanwhile). A run
    #: records its outcome only while the lease is still its own; an expired lease is
    #: taken over by the stuck-operation sweep.
    lease_id = models.UUIDField(null=True, blank=True, editable=False)
    lease_expires_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = ResourceQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["scope", "provider", "name"],
                condition=~models.Q(status="deleted"),
                name="unique_live_resource_name",
            ),
            models.UniqueConstraint(
                fields=["provider", "backend_name"], name="unique_backend_name"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.scope}/{self.name}"


class ScopeRole(models.Model):
    """A local user's role in a scope (for installations without an identity provider)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="scope_roles"
    )
    scope = models.CharField(max_length=63, db_index=True)
    role = models.CharField(max_length=16, choices=Role.choices)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "scope", "role"], name="unique_scope_role")
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.role} in {self.scope}"


class ApiTokenQuerySet(models.QuerySet["ApiToken"]):
    def usable(self) -> ApiTokenQuerySet:
        now = timezone.now()
        return self.filter(revoked_at__isnull=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )


class ApiToken(models.Model):
    """A personal API token. Only its SHA-256 digest is stored; the token is shown once."""

    PREFIX = "rmt_"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    hint = models.CharField(max_length=12, editable=False, help_text="First characters.")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.hint}…)"

    @staticmethod
    def digest_of(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()


class ExternalIdentity(models.Model):
    """Links a local user to an identity provider's subject (never matched by e-mail)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="external_identity"
    )
    issuer = models.CharField(max_length=255)
    subject = models.CharField(max_length=255)
    last_seen_at = models.DateTimeField(auto_now=True)
    #: Scope → role names granted by the claims of the last sign-in or accepted access
    #: token; personal API tokens act with them until ``claim_roles_until``.
    claim_roles = models.JSONField(default=dict, blank=True)
    claim_roles_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["issuer", "subject"], name="unique_external_subject")
        ]

    def __str__(self) -> str:
        return f"{self.subject} at {self.issuer}"


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

    The relay (``resourcemanager.outbox``) publishes it to the task queue and marks it
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
