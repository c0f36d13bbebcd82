"""One seal of the audit chain per request (``chain.sealing_once``)."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from audit.chain import sealing_once


class SealOncePerRequestMiddleware:
    """The entries a request writes are sealed once, when it has been answered, however
    many transactions wrote them (with tasks in-process, its operations' too)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with sealing_once():
            return self.get_response(request)
