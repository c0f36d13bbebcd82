"""Retention of scheduled backups: which are kept (grandfather-father-son), and the sweep
that removes the others from the store, then their rows, audited as
``resource.backup_expire``.

Of a resource's completed *scheduled* backups, the newest of each of the last
``keep_daily`` days that have one, and the newest of each of the last ``keep_weekly`` ISO
weeks that have one (UTC), are kept. Backups asked for by hand are not the schedule's:
retention never removes them. Failed scheduled backups (which stored nothing) go once
older than the retention's reach (``keep_daily`` days or ``keep_weekly`` weeks).

Never removed: the resource's only completed backup, and a backup a restore is reading
(a restore pending or running). A backup is first marked ``failed`` (``EXPIRING``) under
the resource's lock, so no restore can start from it; then its object is deleted, then
its row (restores recorded from it go with it; the audit trail keeps them). A store that
fails leaves the marked row, which the next sweep takes up again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.utils import timezone

from audit.models import AuditEntry
from resourcemanager.backups.models import UNFINISHED, Backup, BackupSchedule, RunStatus
from resourcemanager.backups.store import StoreError, backup_store
from resourcemanager.identity.roles import SYSTEM
from resourcemanager.resources.operations import audit_resource, locked_resource

logger = logging.getLogger(__name__)
Outcome = AuditEntry.Outcome

#: The status message of a backup whose removal has begun.
EXPIRING = "expired by its schedule's retention; being removed"


def kept(backups: Iterable[Backup], *, keep_daily: int, keep_weekly: int) -> set:
    """The ids of the completed ``backups`` the retention keeps."""
    newest_first = sorted(backups, key=lambda backup: backup.completed_at, reverse=True)
    keep: set = set()
    for count, period_of in ((keep_daily, _day), (keep_weekly, _iso_week)):
        periods: set = set()
        for backup in newest_first:
            period = period_of(backup.completed_at)
            if period not in periods and len(periods) < count:
                periods.add(period)
                keep.add(backup.pk)
    return keep


@dataclass
class PruneReport:
    removed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def prune_expired(now: datetime | None = None) -> PruneReport:
    """Remove every backup its schedule's retention no longer keeps at ``now``, and
    finish removals a failing store left undone."""
    now = now or timezone.now()
    report = PruneReport()
    candidates = list(Backup.objects.filter(status=RunStatus.FAILED, status_message=EXPIRING))
    for schedule in BackupSchedule.objects.all():
        candidates += expired(schedule, now)
    for backup in candidates:
        _remove(backup, report)
    return report


def expired(schedule: BackupSchedule, now: datetime) -> list[Backup]:
    """The scheduled backups of ``schedule``'s resource its retention lets go at ``now``."""
    scheduled = Backup.objects.filter(resource_id=schedule.pk, scheduled=True, template_name="")
    completed = list(scheduled.filter(status=RunStatus.COMPLETED))
    keep = kept(completed, keep_daily=schedule.keep_daily, keep_weekly=schedule.keep_weekly)
    reach = max(timedelta(days=schedule.keep_daily), timedelta(weeks=schedule.keep_weekly))
    stale = scheduled.filter(status=RunStatus.FAILED, created_at__lt=now - reach).exclude(
        status_message=EXPIRING)
    return [backup for backup in completed if backup.pk not in keep] + list(stale)


def _remove(backup: Backup, report: PruneReport) -> None:
    with transaction.atomic():
        resource = locked_resource(backup.resource_id)
        if not _may_go(backup):
            return
        Backup.objects.filter(pk=backup.pk).update(
            status=RunStatus.FAILED, status_message=EXPIRING, completed_at=timezone.now())
    try:
        backup_store().delete(backup.object_key)
    except StoreError as exc:
        report.failed[str(backup.pk)] = str(exc)
        logger.warning("expired backup %s of resource %s not removed yet: %s", backup.pk,
                       resource.pk, exc)
        audit_resource(SYSTEM.name, "resource.backup_expire", Outcome.FAILURE, resource,
                       f"backup {backup.pk} not removed yet: {exc}")
        return
    with transaction.atomic():
        Backup.objects.filter(pk=backup.pk).delete()
        audit_resource(SYSTEM.name, "resource.backup_expire", Outcome.SUCCESS, resource,
                       f"backup {backup.pk} of {_when(backup)} removed by retention")
    report.removed.append(str(backup.pk))


def _may_go(backup: Backup) -> bool:
    """Whether ``backup`` (its resource locked) may be removed now: not read by a restore,
    and not the resource's only completed backup."""
    if backup.restores.filter(status__in=UNFINISHED).exists():
        return False
    current = Backup.objects.filter(pk=backup.pk).values_list("status", flat=True).first()
    if current == RunStatus.COMPLETED:
        others = Backup.objects.filter(resource_id=backup.resource_id,
                                       status=RunStatus.COMPLETED).exclude(pk=backup.pk)
        return others.exists()
    return current == RunStatus.FAILED


def _when(backup: Backup) -> str:
    return f"{(backup.completed_at or backup.created_at):%Y-%m-%d %H:%M}"


def _day(moment: datetime) -> object:
    return moment.astimezone(UTC).date()


def _iso_week(moment: datetime) -> object:
    return moment.astimezone(UTC).isocalendar()[:2]
