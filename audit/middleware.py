"""One seal of the audit chain per request, made once the answer has been delivered.

A request may commit several times (with tasks in-process: its own transaction, each
operation's outcome); its commits only mark that a seal is due (``chain.seals_waiting``),
and the seal is left until after the answer (``after_answer``), so that the client does
not wait for the chain's transaction.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from audit import chain
from resourcemanager.telemetry.after_answer import after_answer


class SealOncePerRequestMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with chain.seals_waiting() as waiting:
            response = self.get_response(request)
        if waiting:
            after_answer(lambda: chain.seal_if_waiting(waiting))
        return response
