"""Who may act: local scope memberships, personal API tokens and external identities."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.db import models
from django.utils import timezone

from resourcemanager.identity.querysets import ScopedQuerySet
from resourcemanager.identity.roles import Role


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
