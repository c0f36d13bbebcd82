"""Resources: what a scope owns on a provider instance, its lifecycle state, and the
credentials issued on it."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from resourcemanager.core.fields import EncryptedJSONField
from resourcemanager.core.lookups import json_list_contains
from resourcemanager.identity.querysets import ScopedQuerySet
from resourcemanager.identity.roles import Action, Principal


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
    #: Bytes the resource held when the CHECK sweep last measured it (null: never
    #: measured), and its objects where the backend counts them (S3).
    size = models.BigIntegerField(null=True, blank=True, editable=False)
    size_objects = models.BigIntegerField(null=True, blank=True, editable=False)
    size_measured_at = models.DateTimeField(null=True, blank=True, editable=False)
    #: The most bytes it may hold before the sweep freezes it (null: no limit of its
    #: own); set by platform operators only (``resourcemanager.resources.quotas``).
    max_bytes = models.BigIntegerField(null=True, blank=True, editable=False)
    #: Frozen by the sweep over a size limit: its logins may read (and, where the backend
    #: allows, delete), not write; ``frozen_reason`` names the limit.
    frozen = models.BooleanField(default=False, editable=False)
    frozen_reason = models.TextField(blank=True, editable=False)
    frozen_at = models.DateTimeField(null=True, blank=True, editable=False)
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


class CredentialQuerySet(ScopedQuerySet):
    def visible_to(
        self, principal: Principal | None, action: Action, scope: str | None = None
    ) -> ScopedQuerySet:
        """As for every scoped row, and besides: a member of the scope sees the
        credentials it holds itself (``user:<its name>``), whatever its roles."""
        allowed = super().visible_to(principal, action, scope)
        if principal is None or principal.user_id is None:
            return allowed
        scopes = [scope] if scope is not None else list(principal.roles)
        held = self.filter(holder=f"{USER_HOLDER}{principal.name}",
                           scope__in=[each for each in scopes if principal.member_of(each)])
        return allowed | held


#: How the holder of a user's own credential is written: ``user:<username>``.
USER_HOLDER = "user:"
#: How the holder of a consumer's own credential is written: ``consumer:<id>``. Only the
#: system issues those, for the consumer's deliveries (``consumers.credentials``).
CONSUMER_HOLDER = "consumer:"
#: The holder of a resource's owner credential (``resourcemanager.resources.owners``).
OWNER_HOLDER = "resource:owner"


class Credential(models.Model):
    """A login of its own to a resource, for one holder, with one access level.

    The secret is shown once, when issued or rotated; lists and reads never carry it.
    ``login`` is the backend account (named after the resource, so the resource's deletion
    takes it). A rotation makes a new login (``pending_secret`` until it exists), then
    the replaced one stays valid for a grace period in ``retiring`` before it is dropped.
    """

    class Access(models.TextChoices):
        READ_ONLY = "read-only"
        READ_WRITE = "read-write"
        OWNER = "owner"

    class Status(models.TextChoices):
        ISSUING = "issuing"
        ACTIVE = "active"
        ROTATING = "rotating"
        REVOKING = "revoking"
        REVOKED = "revoked"
        ERROR = "error"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    scope = models.CharField(max_length=63, db_index=True)
    resource = models.ForeignKey(
        Resource, on_delete=models.CASCADE, related_name="issued_credentials"
    )
    #: An application's name, ``user:<username>``, ``consumer:<id>`` (a consumer's own,
    #: issued for its deliveries) or ``resource:owner`` (the resource's owner).
    holder = models.CharField(max_length=160)
    access = models.CharField(max_length=16, choices=Access.choices)
    login = models.CharField(max_length=80, editable=False)
    #: The connection fields of the login (``username``, ``password``, ``uri`` …).
    secret = EncryptedJSONField(editable=False)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.ISSUING, db_index=True
    )
    status_message = models.TextField(blank=True)
    #: The backend refuses the login afterwards where it can; the sweep revokes it.
    expires_at = models.DateTimeField(null=True, blank=True)
    #: Seconds a RENEW extends it by, unless the request says otherwise.
    ttl = models.PositiveIntegerField(null=True, blank=True)
    #: No RENEW reaches past this (issued + max_ttl).
    max_expires_at = models.DateTimeField(null=True, blank=True)
    #: Scheduled rotation: every so many seconds, next at ``next_rotation_at``.
    rotation_period = models.PositiveIntegerField(null=True, blank=True)
    next_rotation_at = models.DateTimeField(null=True, blank=True, db_index=True)
    rotated_at = models.DateTimeField(null=True, blank=True)
    #: The connection fields of the login a rotation under way makes.
    pending_secret = EncryptedJSONField(null=True, blank=True, editable=False)
    #: Seconds the replaced login stays valid after the rotation under way.
    rotation_grace = models.PositiveIntegerField(default=0)
    #: Logins replaced by rotations, valid until their grace ends:
    #: ``[{"login": …, "until": ISO time}]`` (names only, no secrets).
    retiring = models.JSONField(default=list, blank=True, editable=False)
    #: When the first of ``retiring`` is due to be dropped.
    retire_at = models.DateTimeField(null=True, blank=True, db_index=True)
    issued_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = CredentialQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["resource", "login"], name="unique_credential_login")
        ]

    def __str__(self) -> str:
        return f"{self.holder} ({self.access}) on {self.resource_id}"
