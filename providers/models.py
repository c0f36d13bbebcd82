"""Configured provider instances: one row per backend server we manage resources on."""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.db import models

from providers.adapters import registry
from providers.adapters.base import InstanceConfig, ProviderAdapter
from resourcemanager.core.fields import EncryptedTextField
from resourcemanager.core.lookups import json_list_contains
from resourcemanager.identity.roles import Action, Principal


class ProviderQuerySet(models.QuerySet["Provider"]):
    def usable_in(self, scope: str) -> ProviderQuerySet:
        """Enabled instances that accept resources of ``scope``."""
        return self.usable_in_any([scope])

    def usable_in_any(self, scopes: Iterable[str]) -> ProviderQuerySet:
        """Enabled instances that accept resources of at least one of ``scopes``."""
        accepted = models.Q(allowed_scopes=[])
        for scope in scopes:
            accepted |= models.Q(**json_list_contains("allowed_scopes", scope))
        return self.filter(accepted, enabled=True)

    def visible_to(
        self, principal: Principal | None, scope: str | None = None
    ) -> ProviderQuerySet:
        """Instances ``principal`` may read: every one for operators, else the enabled ones
        usable in a scope where it may view providers (what ``GET /providers`` lists).
        ``scope`` narrows a non-operator's list to that scope's instances."""
        if principal is None:
            return self.none()
        if principal.is_operator:
            return self.all()
        scopes = principal.scopes_for(Action.VIEW_PROVIDER)
        if scope is not None:
            scopes = [scope] if scope in scopes else []
        return self.usable_in_any(scopes) if scopes else self.none()


class Provider(models.Model):
    class Source(models.TextChoices):
        ADMIN = "admin", "admin"
        ENVIRONMENT = "env", "environment"

    key = models.SlugField(max_length=63, unique=True, help_text="Name used in API requests.")
    provider_class = models.CharField(max_length=32, choices=registry.class_choices)
    description = models.CharField(max_length=200, blank=True)
    host = models.CharField(max_length=255)
    port = models.PositiveIntegerField()
    username = models.CharField(max_length=128, help_text="Admin account of the server.")
    #: Providers are the platform's, not a scope's: under the platform's data key.
    password = EncryptedTextField(blank=True, scope_field=None)
    options = models.JSONField(default=dict, blank=True)
    enabled = models.BooleanField(default=True)
    is_default = models.BooleanField(
        "default of its class",
        default=False,
        help_text="Chosen when a request names the provider class instead of an instance.",
    )
    allowed_scopes = models.JSONField(
        default=list, blank=True, help_text="Scopes that may use this instance; empty: all."
    )
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.ADMIN)
    #: Outcome of the last connection test with the admin account (None: not tested yet).
    reachable = models.BooleanField(null=True, editable=False)
    reachability_message = models.CharField(max_length=300, blank=True, editable=False)
    reachability_checked_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ProviderQuerySet.as_manager()

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.key

    @property
    def adapter_class(self) -> type[ProviderAdapter]:
        return registry.adapter_class(self.provider_class)

    @property
    def resource_type(self) -> str:
        return self.adapter_class.resource_type

    def allows_scope(self, scope: str) -> bool:
        return not self.allowed_scopes or scope in self.allowed_scopes

    def adapter(self) -> ProviderAdapter:
        config = InstanceConfig(
            host=self.host,
            port=self.port,
            username=self.username,
            password=self.password,
            options=self.options or {},
            connect_timeout=settings.RM_PROVIDER_CONNECT_TIMEOUT,
            read_timeout=settings.RM_PROVIDER_READ_TIMEOUT,
        )
        return self.adapter_class(config)
