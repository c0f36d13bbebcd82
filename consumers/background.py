"""Drains that outlast their wait go on beside the worker process's next tasks.

A delivery holds whoever runs it until the tool answers or its timeout ends. Run in the
task itself, a tool that hangs would hold a worker process for the whole timeout, and
with two processes cut everyone else's deliveries by half. So a worker process runs
each drain in a thread of its own small pool and waits for it ``RM_CONSUMER_DRAIN_WAIT``
seconds: a drain of a healthy tool ends well within that; a slower one goes on in its
thread, waiting on the network (which costs no CPU), while the process takes its next
task. With every thread busy the drain runs in the task, so a process never takes on
more than ``RM_CONSUMER_DRAIN_THREADS`` of them.

Nothing is lost when a process ends with drains still running: their deliveries are
leased, not taken, and the lease and the consumer's hold lapse after
``RM_OPERATION_TIMEOUT``; the stalled-delivery sweep then queues them again (at least
once, as always: a receiver tells a repeat by its delivery id).
"""

from __future__ import annotations

import contextvars
import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait

from django.conf import settings
from django.db import close_old_connections

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_pool: tuple[int, ThreadPoolExecutor, threading.BoundedSemaphore] | None = None


def run(work: Callable[[], None]) -> None:
    """Run ``work`` in a thread of this process's pool and wait for it up to
    ``RM_CONSUMER_DRAIN_WAIT`` seconds; past that it goes on there. With no thread free,
    run it here."""
    pool, free = _pool_of_this_process()
    if not free.acquire(blocking=False):
        work()
        return
    context = contextvars.copy_context()  # the task's request id, for its log lines
    try:
        running = pool.submit(context.run, _in_thread, work, free)
    except RuntimeError:  # the interpreter is shutting down
        free.release()
        work()
        return
    wait([running], timeout=settings.RM_CONSUMER_DRAIN_WAIT)


def _in_thread(work: Callable[[], None], free: threading.BoundedSemaphore) -> None:
    """``work`` with the database connection of this thread looked after as a task's:
    kept while usable and young enough (``CONN_MAX_AGE``), replaced otherwise."""
    close_old_connections()
    try:
        work()
    except Exception:
        logger.exception("a drain failed; its deliveries wait for their lease to lapse")
    finally:
        close_old_connections()
        free.release()


def _pool_of_this_process() -> tuple[ThreadPoolExecutor, threading.BoundedSemaphore]:
    """The pool of this process, made at its first drain (a forked worker process gets
    its own: threads do not survive a fork)."""
    global _pool
    with _lock:
        if _pool is None or _pool[0] != os.getpid():
            threads = settings.RM_CONSUMER_DRAIN_THREADS
            _pool = (os.getpid(),
                     ThreadPoolExecutor(threads, thread_name_prefix="drain"),
                     threading.BoundedSemaphore(threads))
        return _pool[1], _pool[2]
