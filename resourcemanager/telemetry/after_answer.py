"""Work a request leaves until its answer has been delivered.

``after_answer(work)`` during a request (inside ``AfterAnswerMiddleware``) keeps ``work``
until Django sends ``request_finished``, which it does when the server has delivered the
response and closes it; outside a request (a task, a command) ``work`` runs at once. The
client does not wait for such work; the process does, before its next request. Each piece
runs in the context it was handed over in (request id, client address) and in the order
handed over; one that fails is logged and does not stop the others.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable
from typing import Any

from django.core.signals import request_finished
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse

logger = logging.getLogger(__name__)
Work = Callable[[], None]

#: The work handed over during the current request (inside the middleware), else None.
_deferred: contextvars.ContextVar[list[tuple[contextvars.Context, Work]] | None] = (
    contextvars.ContextVar("after_answer_deferred", default=None))
#: The work of the answered request still to run when it has been delivered, else None.
_answered: contextvars.ContextVar[list[tuple[contextvars.Context, Work]] | None] = (
    contextvars.ContextVar("after_answer_answered", default=None))


def after_answer(work: Work) -> None:
    """Run ``work`` once the current request has been answered; at once outside one."""
    deferred = _deferred.get()
    if deferred is None:
        work()
    else:
        deferred.append((contextvars.copy_context(), work))


class AfterAnswerMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        deferred: list[tuple[contextvars.Context, Work]] = []
        token = _deferred.set(deferred)
        try:
            response = self.get_response(request)
        finally:
            _deferred.reset(token)
        _answered.set(deferred)
        return response


@receiver(request_finished, dispatch_uid="telemetry.run_after_answer")
def run_after_answer(**kwargs: Any) -> None:
    answered = _answered.get()
    if not answered:
        return
    _answered.set(None)
    for handed_over_in, work in answered:
        try:
            handed_over_in.run(_now, work)
        except Exception:
            logger.exception("work left until after the answer failed")


def _now(work: Work) -> None:
    _deferred.set(None)  # the request is over: what this work hands over runs at once
    work()
