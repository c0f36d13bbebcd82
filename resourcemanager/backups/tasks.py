"""The Celery tasks running a resource's data operations (BACKUP, RESTORE, CLEANUP,
CLONE), and the backup sweep. Thin: the runners, the schedules and the retention do the
work."""

import logging

from celery import shared_task

from resourcemanager.backups import cleanups, clones, retention, runs, schedules
from resourcemanager.backups.models import Backup, Cleanup, Clone, Restore
from resourcemanager.outbox import queueing
from resourcemanager.resources.operations import Operation, RetryLater
from resourcemanager.resources.tasks import run_with_retries

logger = logging.getLogger(__name__)
#: The runner of each data operation but BACKUP and RESTORE (``runs``).
_RUNNERS = {Operation.CLEANUP: cleanups.run_cleanup, Operation.CLONE: clones.run_clone}
#: The record of each data operation's run.
_RUNS = {Operation.BACKUP: Backup, Operation.RESTORE: Restore, Operation.CLEANUP: Cleanup,
         Operation.CLONE: Clone}


@shared_task(bind=True, name=queueing.RUN_DATA_OPERATION, acks_late=True, max_retries=None)
def run_data_operation(
    self, resource_id: str, run_id: str, operation: str, actor: str,
    message_id: int | None = None,
) -> None:
    """A data operation of a resource; tried again later while the resource is busy
    with another operation, as resource operations are."""
    runner = _RUNNERS.get(Operation(operation))

    def run(last_attempt: bool) -> None:
        try:
            if runner is None:
                runs.run_data_operation(resource_id, run_id, operation, actor=actor,
                                        last_attempt=last_attempt)
            else:
                runner(resource_id, run_id, actor=actor, last_attempt=last_attempt)
        except RetryLater:
            raise
        except Exception as exc:
            # A bug must not leave the run under way for ever, which would answer every
            # later request of it: it fails, naming only the exception's type.
            found = _RUNS[Operation(operation)].objects.filter(pk=run_id).first()
            if found is not None and runs.settle(
                    found, f"unexpected {type(exc).__name__} in the {operation} run"):
                logger.exception("%s %s of resource %s failed unexpectedly",
                                 operation, run_id, resource_id)
            raise

    run_with_retries(self, run, f"{operation} {run_id} of resource {resource_id}", message_id)


@shared_task(name="resourcemanager.sweep_backups")
def sweep_backups() -> dict:
    """Request the scheduled backups due, then remove those their retention lets go
    (scheduled by ``CELERY_BEAT_SCHEDULE`` every ``RM_BACKUP_SWEEP_INTERVAL`` seconds)."""
    due = schedules.request_due_backups()
    pruned = retention.prune_expired()
    return {"requested": len(due.requested), "skipped": len(due.skipped),
            "removed": len(pruned.removed), "not_removed": len(pruned.failed)}
