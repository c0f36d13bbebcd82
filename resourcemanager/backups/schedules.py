"""A resource's backup schedule: read by every member of its scope, set and removed by
RESOURCE_ADMIN and ADMIN (audited as ``resource.backup_schedule``), and the sweep that
asks for the backups due.

The sweep (beat's ``resourcemanager.sweep_backups``) requests each due backup through
``services.request_backup`` as ``system``, marked ``scheduled`` so that the schedule's
retention (``resourcemanager.backups.retention``) applies to it. A schedule keeps its
cadence: the next run is the due one plus whole intervals, past ``now``; runs missed
while no sweep ran are not made up for, one backup covers them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from audit.models import AuditEntry
from resourcemanager.backups.checks import data_class
from resourcemanager.backups.models import BackupSchedule, Interval
from resourcemanager.backups.services import request_backup
from resourcemanager.core.errors import Conflict, InvalidInput, NotFound, ServiceError
from resourcemanager.identity.roles import SYSTEM, Action, Principal, require
from resourcemanager.resources.models import Resource
from resourcemanager.resources.operations import audit_resource, locked_resource

logger = logging.getLogger(__name__)
Outcome = AuditEntry.Outcome

#: The longest interval in hours, and the most days and weeks a retention keeps.
MAX_HOURS = 24 * 7
MAX_KEEP_DAILY = 366
MAX_KEEP_WEEKLY = 520
_PERIODS = {Interval.DAILY: timedelta(days=1), Interval.WEEKLY: timedelta(weeks=1)}


def period(schedule: BackupSchedule) -> timedelta:
    """The time between two backups of ``schedule``."""
    if schedule.interval == Interval.HOURS:
        return timedelta(hours=schedule.hours or 0)
    return _PERIODS[Interval(schedule.interval)]


def schedules_visible(principal: Principal | None, scope: str):
    """The scope's backup schedules ``principal`` may see."""
    return BackupSchedule.objects.visible_to(principal, Action.VIEW_RESOURCE, scope)


def view_schedule(principal: Principal | None, resource: Resource) -> BackupSchedule:
    found = schedules_visible(principal, resource.scope).filter(resource=resource).first()
    if found is None:
        raise NotFound("this resource has no backup schedule")
    return found


def set_schedule(principal: Principal, resource: Resource, *, interval: object,
                 hours: object = None, keep_daily: object = 7, keep_weekly: object = 4
                 ) -> BackupSchedule:
    """Create or replace the resource's schedule. A new schedule's first backup is due at
    once; a changed one's next is the last run plus the new interval."""
    wanted = check_schedule(principal, resource, interval=interval, hours=hours,
                            keep_daily=keep_daily, keep_weekly=keep_weekly)
    now = timezone.now()
    with transaction.atomic():
        resource = locked_resource(resource.pk)
        if resource.status in (Resource.Status.DELETING, Resource.Status.DELETED):
            raise Conflict(f"a {resource.status} resource is not backed up",
                           code="invalid_state")
        schedule = BackupSchedule.objects.filter(resource=resource).first()
        if schedule is None:
            schedule = BackupSchedule(resource=resource, scope=resource.scope, next_run_at=now)
        for name, value in wanted.items():
            setattr(schedule, name, value)
        if schedule.last_run_at is not None:
            schedule.next_run_at = schedule.last_run_at + period(schedule)
        schedule.updated_by = principal.name
        schedule.save()
        audit_resource(principal.name, "resource.backup_schedule", Outcome.SUCCESS, resource,
                       describe(schedule))
    return schedule


def check_schedule(principal: Principal | None, resource: Resource, *, interval: object,
                   hours: object, keep_daily: object, keep_weekly: object
                   ) -> dict[str, object]:
    """Refuse what ``set_schedule`` would refuse, changing nothing (for forms); the
    schedule's fields."""
    require(principal, Action.MANAGE_RESOURCE, resource.scope)
    wanted = _validated(interval, hours, keep_daily, keep_weekly)  # what was sent, first
    data_class(resource)
    return wanted


def delete_schedule(principal: Principal, resource: Resource) -> None:
    """Remove the resource's schedule; its backups stay, no longer pruned."""
    require(principal, Action.MANAGE_RESOURCE, resource.scope)
    with transaction.atomic():
        removed, _ = BackupSchedule.objects.filter(resource=resource).delete()
        if not removed:
            raise NotFound("this resource has no backup schedule")
        audit_resource(principal.name, "resource.backup_schedule", Outcome.SUCCESS, resource,
                       "removed; its backups are kept")


def describe(schedule: BackupSchedule) -> str:
    """E.g. ``every 6 hours, keep 7 daily / 4 weekly``."""
    every = (f"every {schedule.hours} hours" if schedule.interval == Interval.HOURS
             else schedule.interval)
    return f"{every}, keep {schedule.keep_daily} daily / {schedule.keep_weekly} weekly"


@dataclass
class SweepReport:
    requested: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


def request_due_backups(now: datetime | None = None) -> SweepReport:
    """Ask for the backup of every schedule due at ``now``, one transaction each (a
    schedule another sweep is handling is left to it); a deleted resource's schedule
    rests."""
    now = now or timezone.now()
    report = SweepReport()
    due = BackupSchedule.objects.filter(next_run_at__lte=now).exclude(
        resource__status=Resource.Status.DELETED).values_list("pk", flat=True)
    for resource_id in list(due):
        with transaction.atomic():
            schedule = (BackupSchedule.objects.select_for_update(skip_locked=True)
                        .select_related("resource__provider")
                        .filter(pk=resource_id, next_run_at__lte=now).first())
            if schedule is not None:
                _run(schedule, now, report)
    return report


def _run(schedule: BackupSchedule, now: datetime, report: SweepReport) -> None:
    every = period(schedule)
    missed = (now - schedule.next_run_at) // every
    schedule.next_run_at += every * (missed + 1)
    schedule.last_run_at = now
    try:
        backup = request_backup(SYSTEM, schedule.resource, scheduled=True)
    except ServiceError as exc:
        schedule.last_message = exc.message
        report.skipped[str(schedule.pk)] = exc.message
        logger.warning("scheduled backup of resource %s not requested: %s", schedule.pk,
                       exc.message)
        audit_resource(SYSTEM.name, "resource.backup", Outcome.FAILURE, schedule.resource,
                       f"scheduled backup not requested: {exc.message}")
    else:
        schedule.last_message = ""
        report.requested.append(str(backup.pk))
    schedule.save(update_fields=["next_run_at", "last_run_at", "last_message"])


def _validated(interval: object, hours: object, keep_daily: object, keep_weekly: object
               ) -> dict[str, object]:
    if interval not in Interval.values:
        raise InvalidInput(f"interval is one of {', '.join(Interval.values)}",
                           field="interval")
    if interval == Interval.HOURS:
        if not _whole(hours, 1, MAX_HOURS):
            raise InvalidInput(f"hours is a whole number from 1 to {MAX_HOURS}",
                               field="hours")
    elif hours is not None:
        raise InvalidInput("hours goes with the interval 'hours' only", field="hours")
    if not _whole(keep_daily, 0, MAX_KEEP_DAILY):
        raise InvalidInput(f"keep_daily is a whole number from 0 to {MAX_KEEP_DAILY}",
                           field="keep_daily")
    if not _whole(keep_weekly, 0, MAX_KEEP_WEEKLY):
        raise InvalidInput(f"keep_weekly is a whole number from 0 to {MAX_KEEP_WEEKLY}",
                           field="keep_weekly")
    if keep_daily == keep_weekly == 0:
        raise InvalidInput("a retention keeps at least one daily or weekly backup",
                           field="keep_daily")
    return {"interval": interval, "hours": hours, "keep_daily": keep_daily,
            "keep_weekly": keep_weekly}


def _whole(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
