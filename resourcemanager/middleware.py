import re
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from resourcemanager import context

_INCOMING_ID_RE = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


class RequestIdMiddleware:
    """Give every request an id (a sane incoming ``X-Request-ID`` is kept) and echo it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _INCOMING_ID_RE.fullmatch(incoming) else context.new_request_id()
        context.bind(request_id, request.META.get("REMOTE_ADDR"))
        try:
            response = self.get_response(request)
        finally:
            context.bind(None)
        response["X-Request-ID"] = request_id
        return response
