"""Pruning the trail: the only path that deletes audit entries.

``prune`` removes the oldest entries up to a cut while keeping the rest verifiable: the
whole chain is verified first (a broken trail is not pruned: pruning would hide the break),
then one transaction writes a signed checkpoint naming the newest entry removed and deletes
the entries up to it, with the checkpoints they made useless. ``verify_audit`` then starts
from the oldest entry kept, whose ``prev_hash`` that checkpoint vouches for.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import models, transaction

from audit import checkpoints
from audit.chain import locked_head, seal
from audit.models import AuditCheckpoint, AuditEntry
from audit.services import record
from audit.verification import verify


class PruneRefused(Exception):
    pass


@dataclass(frozen=True)
class PruneReport:
    deleted: int
    #: The newest entry deleted (0: none).
    cut: int
    checkpoint: AuditCheckpoint | None = None


def prune(before: datetime, actor: str) -> PruneReport:
    """Delete the entries written before ``before``, oldest first, up to the first one that
    is not (entries are chained in commit order, so a later place may hold an older
    time: the cut never passes a newer entry)."""
    seal()
    report = verify()
    if report.problems:
        raise PruneRefused(f"the trail does not verify: {report.problems[0]}")
    sealed = AuditEntry.objects.sealed()
    newer = sealed.filter(timestamp__gte=before).order_by("seq").values_list("seq", flat=True)
    first_newer = newer.first()
    cut = first_newer - 1 if first_newer is not None else report.newest
    oldest = sealed.order_by("seq").values_list("seq", flat=True).first()
    if oldest is None or cut < oldest:
        return PruneReport(0, 0)
    with transaction.atomic():
        locked_head()  # no seal, checkpoint or prune meanwhile
        checkpoint = checkpoints.at(cut, AuditCheckpoint.Reason.PRUNE)
        deleted, _ = models.QuerySet.delete(AuditEntry.objects.filter(seq__lte=cut))
        AuditCheckpoint.objects.filter(seq__lt=cut).delete()
        record(actor, "audit.prune", AuditEntry.Outcome.SUCCESS,
               message=f"{deleted} entries up to #{cut} deleted (written before "
                       f"{before:%Y-%m-%d %H:%M:%S %Z}); checkpoint {checkpoint.pk} anchors "
                       "the rest")
    return PruneReport(deleted, cut, checkpoint)
