import logging
import re
import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from resourcemanager.telemetry import context

_INCOMING_ID_RE = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
access_log = logging.getLogger("resourcemanager.access")


class RequestIdMiddleware:
    """Give every request an id (a sane incoming ``X-Request-ID`` is kept), echo it, and
    write the access log line (never the query string: it can carry codes and tokens)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _INCOMING_ID_RE.fullmatch(incoming) else context.new_request_id()
        context.bind(request_id, request.META.get("REMOTE_ADDR"))
        started = time.perf_counter()
        try:
            response = self.get_response(request)
            if settings.RM_ACCESS_LOG:
                _log_access(request, response, time.perf_counter() - started)
        finally:
            context.bind(None)
        response["X-Request-ID"] = request_id
        return response


def _log_access(request: HttpRequest, response: HttpResponse, seconds: float) -> None:
    match = request.resolver_match
    access_log.info(
        "%s %s %s %.1f ms", request.method, request.path, response.status_code, seconds * 1000,
        extra={
            "method": request.method,
            "path": request.path,
            "route": match.view_name if match else "",
            "status": response.status_code,
            "duration_ms": round(seconds * 1000, 1),
            "user": getattr(getattr(request, "user", None), "username", "") or "",
        },
    )
