"""Celery application. Without ``REDIS_URL`` tasks run eagerly in the calling process."""

import os
from typing import Any

from celery import Celery, Task, signals
from django import db

import resourcemanager.telemetry.metrics  # noqa: F401 - connects the task signals
from resourcemanager.telemetry import context

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("resourcemanager")
app.config_from_object("django.conf:settings", namespace="CELERY")
# The task modules, loaded by every worker (and by an in-process run on first use).
app.conf.include = [
    "resourcemanager.outbox.tasks",
    "resourcemanager.resources.tasks",
    "resourcemanager.backups.tasks",
    "providers.tasks",
    "consumers.tasks",
    "audit.tasks",
]

# Tasks run under the request id (and client address) of the request that caused them.
signals.before_task_publish.connect(context.stamp_task_message, weak=False)
signals.task_prerun.connect(context.bind_task_context, weak=False)
signals.task_postrun.connect(context.clear_task_context, weak=False)


def close_old_connections(task: Task | None = None, **_: Any) -> None:
    """Before and after each task a worker runs, as Django does around each request: the
    app-database connection is kept for ``DATABASE_CONN_MAX_AGE``, dropped after an error
    or an unfinished transaction, and checked before its next use. Not for a task run
    eagerly, inside the caller's own request or transaction."""
    if task is not None and not task.request.is_eager:
        db.close_old_connections()


signals.task_prerun.connect(close_old_connections, weak=False)
signals.task_postrun.connect(close_old_connections, weak=False)
