"""Queueing tasks by their registered name, so that no publisher imports a task module.

The data flow is one way (services → outbox → tasks → lifecycle service → adapters): the
outbox and the consumer services queue work, the task modules import those services, and
both sides meet here. Without a broker the project runs tasks in the calling process
(``CELERY_TASK_ALWAYS_EAGER``); ``Celery.send_task`` would ignore that, so ``send`` then
runs the registered task itself.
"""

from __future__ import annotations

from typing import Any

from celery import current_app
from celery.result import AsyncResult

RUN_RESOURCE_OPERATION = "providers.run_resource_operation"
DELIVER_EVENT = "resourcemanager.deliver_event"
DELIVER_TO_CONSUMER = "consumers.deliver"


def send(
    name: str, kwargs: dict[str, Any], headers: dict[str, Any] | None = None
) -> AsyncResult:
    """Queue the task registered as ``name``; in in-process mode, run it here and now."""
    options = {"headers": headers} if headers is not None else {}
    app = current_app
    if not app.conf.task_always_eager:
        return app.send_task(name, kwargs=kwargs, **options)
    if name not in app.tasks:
        # Nothing in this process imported the task modules yet: load them as a worker
        # does at its start (the app's autodiscovery, config/celery.py).
        app.loader.import_default_modules()
    return app.tasks[name].apply_async(kwargs=kwargs, **options)
