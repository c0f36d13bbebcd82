"""Request context (request id, client address) carried into tasks, audit rows and logs.

The web binds it for each request (``RequestIdMiddleware``). A published task message
carries the publisher's context in its headers, and a worker binds it for that task's run
only: a worker process runs many tasks in turn, and none may log under another's id.
"""

import logging
import uuid
from contextvars import ContextVar
from typing import Any

from celery import Task

_request_id: ContextVar[str] = ContextVar("request_id", default="")
_source_ip: ContextVar[str | None] = ContextVar("source_ip", default=None)

#: Task message headers holding the context of the request a task works for.
REQUEST_ID_HEADER = "rm_request_id"
SOURCE_IP_HEADER = "rm_source_ip"


def get_request_id() -> str:
    return _request_id.get()


def get_source_ip() -> str | None:
    return _source_ip.get()


def bind(request_id: str | None, source_ip: str | None = None) -> None:
    _request_id.set(request_id or "")
    _source_ip.set(source_ip)


def new_request_id() -> str:
    return uuid.uuid4().hex


def task_headers(request_id: str | None, source_ip: str | None = None) -> dict[str, Any]:
    """Headers for a task published on behalf of a request other than the current one."""
    return {REQUEST_ID_HEADER: request_id or "", SOURCE_IP_HEADER: source_ip}


def stamp_task_message(headers: dict[str, Any] | None = None, **_: Any) -> None:
    """``before_task_publish``: the message carries the current context, unless the
    publisher named one (the outbox relay publishes for the request that wrote the row)."""
    if headers is not None:
        for key, value in task_headers(get_request_id(), get_source_ip()).items():
            headers.setdefault(key, value)


def bind_task_context(task: Task | None = None, **_: Any) -> None:
    """``task_prerun``: a worker runs the task under the context its message carries, or
    under a fresh id when it has none (beat's periodic tasks). A task run in-process
    (eager) keeps its caller's context."""
    if task is None or task.request.is_eager:
        return
    request = task.request
    bind(
        getattr(request, REQUEST_ID_HEADER, None) or new_request_id(),
        getattr(request, SOURCE_IP_HEADER, None),
    )


def clear_task_context(task: Task | None = None, **_: Any) -> None:
    """``task_postrun``: nothing of a finished task's context is left for the next one."""
    if task is not None and not task.request.is_eager:
        bind(None)


class RequestIdLogFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = get_request_id() or "-"
        return True
