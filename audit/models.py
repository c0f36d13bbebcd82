"""The append-only audit trail, its hash chain and its signed checkpoints.

Entries never hold secrets. How the chain is sealed and why: ``audit.chain``.
"""

from __future__ import annotations

from django.db import models

from resourcemanager.identity.querysets import ScopedQuerySet
from resourcemanager.identity.roles import Action, Principal


class AuditQuerySet(ScopedQuerySet):
    """Refuses updates and deletes: sealing (``audit.chain``) and pruning
    (``audit.retention``) are the only paths that change or remove rows."""

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

    def sealed(self) -> AuditQuerySet:
        return self.filter(seq__isnull=False)


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
    #: The entry's place in the chain (1, 2, …), null until sealed; also the export cursor.
    seq = models.BigIntegerField(null=True, blank=True, unique=True, editable=False)
    #: ``entry_hash`` of the entry sealed before it (64 zeros for the first).
    prev_hash = models.CharField(max_length=64, blank=True, editable=False)
    #: SHA-256 of the entry's canonical content with ``seq`` and ``prev_hash``.
    entry_hash = models.CharField(max_length=64, blank=True, editable=False)

    objects = AuditQuerySet.as_manager()

    class Meta:
        ordering = ["-timestamp", "-id"]
        verbose_name_plural = "audit entries"
        indexes = [
            models.Index(fields=["id"], condition=models.Q(seq__isnull=True),
                         name="audit_unsealed"),
        ]

    def __str__(self) -> str:
        return f"{self.timestamp:%Y-%m-%d %H:%M:%S} {self.actor} {self.action} {self.outcome}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None:
            raise ValueError("audit entries are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("audit entries are append-only")


class ChainHead(models.Model):
    """One row: the newest sealed entry's place and hash. Sealers lock it (``FOR UPDATE``)
    for the few statements of a seal, which keeps the chain a single line."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    seq = models.BigIntegerField(default=0)
    entry_hash = models.CharField(max_length=64, blank=True)

    def __str__(self) -> str:
        return f"chain head #{self.seq}"


class AuditCheckpoint(models.Model):
    """The chain's head at a moment, signed with the Ed25519 key of
    ``RM_AUDIT_SIGNING_KEY`` (unsigned without one). ``verify_audit`` checks that the chain
    still reaches every checkpoint with the same hash."""

    class Reason(models.TextChoices):
        PERIODIC = "periodic"
        MANUAL = "manual"
        #: Written by ``prune_audit`` at the cut: it anchors the oldest entry kept.
        PRUNE = "prune"

    seq = models.BigIntegerField()
    head_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField()
    reason = models.CharField(max_length=16, choices=Reason.choices)
    #: Base64 Ed25519 signature of the checkpoint's canonical encoding; empty: unsigned.
    signature = models.CharField(max_length=128, blank=True)
    #: Which public key signed it: the first 16 hex digits of its SHA-256.
    key_id = models.CharField(max_length=16, blank=True)

    class Meta:
        ordering = ["seq", "id"]
        get_latest_by = "seq"

    def __str__(self) -> str:
        return f"checkpoint #{self.seq} ({self.reason})"


class SinkCursor(models.Model):
    """How far the trail was delivered to a sink (``RM_AUDIT_SINK``): moved only after the
    receiver accepted a batch. ``leased_until`` keeps two shippers from sending at once."""

    sink = models.CharField(max_length=255, primary_key=True)
    seq = models.BigIntegerField(default=0)
    leased_until = models.DateTimeField(null=True, blank=True)
    failures = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.sink} at #{self.seq}"
