"""Backups of a resource's data, kept in the backup store, and their restores."""

from __future__ import annotations

import uuid

from django.db import models

from resourcemanager.core.fields import EncryptedTextField
from resourcemanager.identity.querysets import ScopedQuerySet


class RunStatus(models.TextChoices):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


#: A run not over yet.
UNFINISHED = (RunStatus.PENDING, RunStatus.RUNNING)


class Run(models.Model):
    """What a backup and a restore record alike: who asked, how it went, when, how long."""

    Status = RunStatus

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    scope = models.CharField(max_length=63, db_index=True)
    status = models.CharField(max_length=16, choices=RunStatus.choices,
                              default=RunStatus.PENDING, db_index=True)
    status_message = models.TextField(blank=True)
    duration = models.FloatField(null=True, blank=True, editable=False)
    created_by = models.CharField(max_length=150)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        abstract = True
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self._meta.model_name} {self.pk} of {self.resource_id} ({self.status})"


class Origin(models.TextChoices):
    BACKUP = "backup", "made by BACKUP"
    IMPORT = "import", "uploaded by IMPORT"


class Backup(Run):
    """A logical dump of a resource, compressed, encrypted with a data key of its own
    (``data_key``, itself encrypted at rest) and stored in the backup store under
    ``object_key``. Only a ``completed`` backup is stored whole and may be restored."""

    Origin = Origin

    resource = models.ForeignKey(
        "resourcemanager.Resource", on_delete=models.CASCADE, related_name="backups")
    #: Dumped from the resource, or a dump a tenant uploaded.
    origin = models.CharField(max_length=16, choices=Origin.choices, default=Origin.BACKUP,
                              editable=False)
    #: The adapter's ``dump_format``: only a resource of that format restores it.
    format = models.CharField(max_length=32, editable=False)
    #: Compressed by the backup (else the dump came compressed).
    compressed = models.BooleanField(editable=False)
    object_key = models.CharField(max_length=512, editable=False)
    #: The AES-256 key of this backup alone, base64.
    data_key = EncryptedTextField(editable=False)
    #: Bytes stored and their SHA-256, checked before a restore.
    size = models.BigIntegerField(null=True, blank=True, editable=False)
    sha256 = models.CharField(max_length=64, blank=True, editable=False)
    #: Bytes of the dump itself (so far, while the backup runs).
    dump_size = models.BigIntegerField(null=True, blank=True, editable=False)
    #: Requested by the resource's backup schedule: its retention applies.
    scheduled = models.BooleanField(default=False, editable=False)
    #: What the database held when it was backed up, ``{"tables": {name: rows}}``, which
    #: the restore drill (``verify_backups``) compares a restored copy with.
    manifest = models.JSONField(null=True, blank=True, editable=False)
    #: A name of the scope's own for the backup (a template, e.g. a seed for CLEANUP);
    #: a named backup is restored by that name and retention never removes it.
    template_name = models.CharField(max_length=63, blank=True, default="", editable=False)

    class Meta(Run.Meta):
        constraints = [
            models.UniqueConstraint(fields=["scope", "template_name"],
                                    condition=~models.Q(template_name=""),
                                    name="unique_backup_template_name"),
        ]


class Restore(Run):
    """A backup restored into its resource, replacing what the backup holds."""

    resource = models.ForeignKey(
        "resourcemanager.Resource", on_delete=models.CASCADE, related_name="restores")
    backup = models.ForeignKey(Backup, on_delete=models.CASCADE, related_name="restores")
    #: Bytes of the backup's dump restored so far (the progress of a running restore).
    restored = models.BigIntegerField(default=0, editable=False)

    class Meta(Run.Meta):
        pass


class Cleanup(Run):
    """A resource emptied of its data, its credentials kept; then ``template`` restored
    into it, if one was given."""

    resource = models.ForeignKey(
        "resourcemanager.Resource", on_delete=models.CASCADE, related_name="cleanups")
    template = models.ForeignKey(Backup, on_delete=models.CASCADE, null=True, blank=True,
                                 related_name="cleanups")

    class Meta(Run.Meta):
        pass


class Clone(Run):
    """A new resource (``resource``) made with a copy of ``source``'s data: its current
    data, the dump of one streamed into the restore of the other, or ``backup``, one of
    the scope's backups restored. A failed clone deletes the resource it made."""

    resource = models.ForeignKey(
        "resourcemanager.Resource", on_delete=models.CASCADE, related_name="clone_runs")
    source = models.ForeignKey(
        "resourcemanager.Resource", on_delete=models.CASCADE, related_name="clones")
    backup = models.ForeignKey(Backup, on_delete=models.CASCADE, null=True, blank=True,
                               related_name="clones")
    #: Bytes of the dump copied so far (the progress of a running clone).
    copied = models.BigIntegerField(default=0, editable=False)

    class Meta(Run.Meta):
        pass
class Interval(models.TextChoices):
    DAILY = "daily"
    WEEKLY = "weekly"
    HOURS = "hours"


class BackupSchedule(models.Model):
    """When a resource is backed up by itself, and which of those backups are kept
    (``resourcemanager.backups.schedules`` and ``retention``)."""

    Interval = Interval

    resource = models.OneToOneField("resourcemanager.Resource", on_delete=models.CASCADE,
                                    primary_key=True, related_name="backup_schedule")
    scope = models.CharField(max_length=63, db_index=True)
    interval = models.CharField(max_length=16, choices=Interval.choices, default=Interval.DAILY)
    #: Hours between two backups, for the interval ``hours``.
    hours = models.PositiveSmallIntegerField(null=True, blank=True)
    #: The newest backup of each of the last ``keep_daily`` days (that have one) is kept,
    #: and of each of the last ``keep_weekly`` ISO weeks.
    keep_daily = models.PositiveSmallIntegerField(default=7)
    keep_weekly = models.PositiveSmallIntegerField(default=4)
    next_run_at = models.DateTimeField(db_index=True)
    last_run_at = models.DateTimeField(null=True, blank=True, editable=False)
    #: Why the last due backup was not requested; empty when it was.
    last_message = models.TextField(blank=True, editable=False)
    updated_by = models.CharField(max_length=150)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ScopedQuerySet.as_manager()

    def __str__(self) -> str:
        return f"backup schedule of {self.resource}"
