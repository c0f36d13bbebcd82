"""The Celery tasks running a resource's data operations (BACKUP, RESTORE, CLEANUP,
CLONE), and the backup sweep. Thin: the runners, the schedules and the retention do the
work."""

from celery import shared_task

from resourcemanager.backups import cleanups, clones, retention, runs, schedules
from resourcemanager.outbox import queueing
from resourcemanager.resources.operations import Operation
from resourcemanager.resources.tasks import run_with_retries

#: The runner of each data operation but BACKUP and RESTORE (``runs``).
_RUNNERS = {Operation.CLEANUP: cleanups.run_cleanup, Operation.CLONE: clones.run_clone}


@shared_task(bind=True, name=queueing.RUN_DATA_OPERATION, acks_late=True, max_retries=None)
def run_data_operation(
    self, resource_id: str, run_id: str, operation: str, actor: str,
    message_id: int | None = None,
) -> None:
    """A data operation of a resource; tried again later while the resource is busy
    with another operation, as resource operations are."""
    runner = _RUNNERS.get(Operation(operation))

    def run(last_attempt: bool) -> None:
        if runner is None:
            runs.run_data_operation(resource_id, run_id, operation, actor=actor,
                                    last_attempt=last_attempt)
        else:
            runner(resource_id, run_id, actor=actor, last_attempt=last_attempt)

    run_with_retries(self, run, f"{operation} {run_id} of resource {resource_id}", message_id)


@shared_task(name="resourcemanager.sweep_backups")
def sweep_backups() -> dict:
    """Request the scheduled backups due, then remove those their retention lets go
    (scheduled by ``CELERY_BEAT_SCHEDULE`` every ``RM_BACKUP_SWEEP_INTERVAL`` seconds)."""
    due = schedules.request_due_backups()
    pruned = retention.prune_expired()
    return {"requested": len(due.requested), "skipped": len(due.skipped),
            "removed": len(pruned.removed), "not_removed": len(pruned.failed)}
