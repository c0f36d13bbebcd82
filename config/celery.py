"""Celery application. Without ``REDIS_URL`` tasks run eagerly in the calling process."""

import os

from celery import Celery

import resourcemanager.metrics  # noqa: F401 - connects the task signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("resourcemanager")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
