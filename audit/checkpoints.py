"""Checkpoints: the chain's head at a moment, signed (``audit.signing``).

A checkpoint fixes every entry up to its ``seq``: rewriting any of them, even with every
later hash recomputed, no longer reaches the signed hash, and removing the newest entries
leaves a checkpoint the chain does not reach. ``audit.sweep`` writes one every
``RM_AUDIT_CHECKPOINT_INTERVAL`` seconds when the chain has moved; ``checkpoint_audit``
writes one now; ``prune_audit`` writes one at its cut.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from audit import signing
from audit.chain import iso_utc, locked_head, seal
from audit.models import AuditCheckpoint, AuditEntry

Reason = AuditCheckpoint.Reason


def signed_document(checkpoint: AuditCheckpoint) -> dict[str, Any]:
    """What a checkpoint's signature covers."""
    return {"seq": checkpoint.seq, "head_hash": checkpoint.head_hash,
            "created_at": iso_utc(checkpoint.created_at), "reason": checkpoint.reason}


def write(reason: str, *, only_if_moved: bool = False) -> AuditCheckpoint | None:
    """Seal what is waiting, then checkpoint the head. None when the chain is empty, or
    (``only_if_moved``) when the newest checkpoint already names the head."""
    seal()
    with transaction.atomic():
        head = locked_head()
        if head.seq == 0:
            return None
        if only_if_moved and AuditCheckpoint.objects.filter(seq__gte=head.seq).exists():
            return None
        return at(head.seq, reason)


def at(seq: int, reason: str) -> AuditCheckpoint:
    """Checkpoint entry ``seq`` as stored (the caller holds the chain's head)."""
    head_hash = AuditEntry.objects.filter(seq=seq).values_list("entry_hash", flat=True).get()
    checkpoint = AuditCheckpoint(seq=seq, head_hash=head_hash,
                                 created_at=timezone.now(), reason=reason)
    checkpoint.signature, checkpoint.key_id = signing.sign(signed_document(checkpoint))
    checkpoint.save()
    return checkpoint
