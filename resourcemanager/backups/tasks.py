"""The Celery task running BACKUP and RESTORE. Thin: the runner does the work."""

from celery import shared_task

from resourcemanager.backups import runs
from resourcemanager.outbox import queueing
from resourcemanager.resources.tasks import run_with_retries


@shared_task(bind=True, name=queueing.RUN_DATA_OPERATION, acks_late=True, max_retries=None)
def run_data_operation(
    self, resource_id: str, run_id: str, operation: str, actor: str,
    message_id: int | None = None,
) -> None:
    """A BACKUP or RESTORE of a resource; tried again later while the resource is busy
    with another operation, as resource operations are."""
    run_with_retries(
        self, lambda last_attempt: runs.run_data_operation(
            resource_id, run_id, operation, actor=actor, last_attempt=last_attempt),
        f"{operation} {run_id} of resource {resource_id}", message_id)
