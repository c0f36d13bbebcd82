"""One seal of the audit chain per request, made once the answer has been delivered.

A request may commit several times (with tasks in-process: its own transaction, each
operation's outcome, each event's fan-out); its commits only mark that a seal is due
(``chain.seals_waiting``), and the seal runs on ``request_finished``, which Django sends
when the server has delivered the response and closes it. The client does not wait for the
chain's transaction; the process does, before its next request.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from django.core.signals import request_finished
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse

from audit import chain

#: The marks of the answered request whose seal is still to come, else None.
_answered: ContextVar[list[bool] | None] = ContextVar("audit_answered", default=None)


class SealOncePerRequestMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with chain.seals_waiting() as waiting:
            response = self.get_response(request)
        _answered.set(waiting)
        return response


@receiver(request_finished, dispatch_uid="audit.seal_after_answer")
def seal_after_answer(**kwargs: Any) -> None:
    waiting = _answered.get()
    if waiting is not None:
        _answered.set(None)
        chain.seal_if_waiting(waiting)
