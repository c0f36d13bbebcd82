"""The append-only audit trail. Entries never hold secrets."""

from __future__ import annotations

from django.db import models

from resourcemanager.identity.querysets import ScopedQuerySet
from resourcemanager.identity.roles import Action, Principal


class AuditQuerySet(ScopedQuerySet):
    def update(self, **kwargs):
        raise ValueError("audit entries are append-only")

    def delete(self):
        raise ValueError("audit entries are append-only")

    def readable_by(self, principal: Principal | None, scope: str | None = None) -> AuditQuerySet:
        """Entries of ``scope`` (or of every scope) that ``principal`` may read.

        A scope's ADMINs (and operators) read its whole trail; other roles read their own
        actions there (the README's Roles table).
        """
        if principal is None:
            return self.none()
        everything = self.visible_to(principal, Action.VIEW_ALL_AUDIT, scope)
        own = self.visible_to(principal, Action.VIEW_OWN_AUDIT, scope).filter(
            actor=principal.name
        )
        return everything | own


class AuditEntry(models.Model):
    class Outcome(models.TextChoices):
        ACCEPTED = "accepted"
        SUCCESS = "success"
        FAILURE = "failure"
        DENIED = "denied"

    timestamp = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.CharField(max_length=150, db_index=True)
    scope = models.CharField(max_length=63, db_index=True, blank=True)
    action = models.CharField(max_length=64, db_index=True)
    target_type = models.CharField(max_length=32, blank=True)
    target_id = models.CharField(max_length=64, blank=True, db_index=True)
    target_name = models.CharField(max_length=200, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    message = models.TextField(blank=True)
    request_id = models.CharField(max_length=64, blank=True, db_index=True)
    source_ip = models.GenericIPAddressField(null=True, blank=True)

    objects = AuditQuerySet.as_manager()

    class Meta:
        ordering = ["-timestamp", "-id"]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.timestamp:%Y-%m-%d %H:%M:%S} {self.actor} {self.action} {self.outcome}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None:
            raise ValueError("audit entries are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("audit entries are append-only")
