"""Celery application. Without ``REDIS_URL`` tasks run eagerly in the calling process."""

import os

from celery import Celery, signals

import resourcemanager.telemetry.metrics  # noqa: F401 - connects the task signals
from resourcemanager.telemetry import context

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("resourcemanager")
app.config_from_object("django.conf:settings", namespace="CELERY")
# The task modules, loaded by every worker (and by an in-process run on first use).
app.conf.include = [
    "resourcemanager.outbox.tasks",
    "resourcemanager.resources.tasks",
    "providers.tasks",
    "consumers.tasks",
]

# Tasks run under the request id (and client address) of the request that caused them.
signals.before_task_publish.connect(context.stamp_task_message, weak=False)
signals.task_prerun.connect(context.bind_task_context, weak=False)
signals.task_postrun.connect(context.clear_task_context, weak=False)
