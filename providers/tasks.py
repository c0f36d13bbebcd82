"""Celery tasks running provider operations. Thin: the lifecycle service does the work."""

from celery import shared_task

from resourcemanager import context, services


@shared_task(name="providers.run_resource_operation", acks_late=True)
def run_resource_operation(
    resource_id: str,
    operation: str,
    actor: str,
    request_id: str = "",
    source_ip: str | None = None,
    repair: bool = True,
) -> None:
    context.bind(request_id, source_ip)
    services.run_operation(resource_id, operation, actor=actor, repair=repair)
