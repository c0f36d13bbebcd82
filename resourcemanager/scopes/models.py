"""What a scope's admins decide for their scope (settings), and what platform operators
allow it (quotas); a scope without a row has the defaults: no limits."""

from __future__ import annotations

from django.db import models

from resourcemanager.identity.querysets import ScopedQuerySet


class ScopeSettings(models.Model):
    class SelfService(models.TextChoices):
        OFF = "", "off"
        READ_ONLY = "read-only"
        READ_WRITE = "read-write"

    scope = models.CharField(max_length=63, unique=True)
    #: The highest access a USER may issue for itself (holder ``user:<its name>``), and
    #: renew and revoke; off: only credential managers issue credentials.
    credential_self_service = models.CharField(
        max_length=16, choices=SelfService.choices, default=SelfService.OFF, blank=True)
    #: The ``ttl`` of a credential whose request names none (null: it does not expire).
    credential_default_ttl = models.PositiveIntegerField(null=True, blank=True)
    #: The scope's own ceiling for ``ttl`` and ``max_ttl``, below the server's.
    credential_max_ttl = models.PositiveIntegerField(null=True, blank=True)
    updated_by = models.CharField(max_length=150, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "scope settings"

    def __str__(self) -> str:
        return f"settings of {self.scope}"


class ScopeQuota(models.Model):
    """Limits a platform operator sets on a scope; null: no limit."""

    scope = models.CharField(max_length=63, unique=True)
    #: Resources the scope may hold at once, managed or registered (deleted ones aside).
    max_resources = models.PositiveIntegerField(null=True, blank=True)
    #: Credentials its resources may hold at once (revoked ones and owners' aside).
    max_credentials = models.PositiveIntegerField(null=True, blank=True)
    #: Bytes its resources may hold together, as the CHECK sweep measures them; over it,
    #: the sweep freezes every measured resource of the scope.
    max_bytes = models.BigIntegerField(null=True, blank=True)
    updated_by = models.CharField(max_length=150, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ScopedQuerySet.as_manager()

    def __str__(self) -> str:
        return f"quota of {self.scope}"
