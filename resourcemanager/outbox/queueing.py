"""Queueing tasks by their registered name, so that no publisher imports a task module.

The data flow is one way (services → outbox → tasks → operation runner → adapters): the
outbox and the consumer services queue work, the task modules import those services, and
both sides meet here. Without a broker the project runs tasks in the calling process
(``CELERY_TASK_ALWAYS_EAGER``); ``Celery.send_task`` would ignore that, so ``send`` then
runs the registered task itself.
"""

from __future__ import annotations

import random
from typing import Any

from celery import current_app
from celery.result import AsyncResult
from django.conf import settings

RUN_RESOURCE_OPERATION = "providers.run_resource_operation"
RUN_CREDENTIAL_OPERATION = "resourcemanager.run_credential_operation"
RUN_DATA_OPERATION = "resourcemanager.run_data_operation"
DELIVER_EVENT = "resourcemanager.deliver_event"
DELIVER_TO_CONSUMER = "consumers.deliver"
DRAIN_CONSUMER = "consumers.drain"
PROBE_PROVIDER = "providers.probe_provider"

#: The priority of bulk work (drains of deliveries) on the Redis broker, where 0 (every
#: other task's) comes first: an operation or an event's fan-out never waits behind a
#: round of drains. One of the broker's ``priority_steps``.
BULK_PRIORITY = 6


def send(
    name: str, kwargs: dict[str, Any], headers: dict[str, Any] | None = None,
    countdown: float | None = None, priority: int | None = None,
) -> AsyncResult:
    """Queue the task registered as ``name`` (to run ``countdown`` seconds from now, after
    the waiting tasks of a higher ``priority``); in in-process mode, run it here and
    now."""
    options: dict[str, Any] = {"headers": headers} if headers is not None else {}
    if priority is not None:
        options["priority"] = priority
    if countdown and not current_app.conf.task_always_eager:
        options["countdown"] = countdown
    app = current_app
    if not app.conf.task_always_eager:
        return app.send_task(name, kwargs=kwargs, **options)
    if name not in app.tasks:
        # Nothing in this process imported the task modules yet: load them as a worker
        # does at its start (the task modules listed in config/celery.py).
        app.loader.import_default_modules()
    return app.tasks[name].apply_async(kwargs=kwargs, **options)


def retry_delay(retries: int, *, base: float | None = None, cap: float | None = None) -> float:
    """Exponential backoff with jitter: about base·2ⁿ seconds, capped (default: the
    ``RM_TASK_RETRY_BACKOFF`` settings)."""
    base = settings.RM_TASK_RETRY_BACKOFF if base is None else base
    cap = settings.RM_TASK_RETRY_BACKOFF_MAX if cap is None else cap
    ceiling = min(base * 2**retries, cap)
    return ceiling * random.uniform(0.5, 1.0)  # noqa: S311 - spreading retries, not secrecy
