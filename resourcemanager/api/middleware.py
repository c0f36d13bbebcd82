"""Errors under ``/api/`` are JSON whoever answers them.

DRF views answer their errors through ``errors.exception_handler``. Everything else under
``/api/`` (a path no route matches, a method a non-DRF view does not take, an exception
outside DRF, Django's own refusals) would answer with Django's HTML page, and in DEBUG
with its technical page. This middleware gives those the API's error body instead, with
the headers that matter kept (``Allow``, ``WWW-Authenticate``, ``Retry-After``). The
browsable API's HTML pages stay as they are.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
from rest_framework.renderers import BrowsableAPIRenderer

from resourcemanager.api.errors import error_body, internal_error_body

API_PREFIX = "/api/"

_CODES = {
    400: ("malformed_request", "the request is malformed"),
    401: ("not_authenticated", "authentication is required"),
    403: ("forbidden", "the request is refused"),
    404: ("not_found", "no such route"),
    405: ("method_not_allowed", "method not allowed on this route"),
    413: ("request_too_large", "the request is too large"),
    429: ("throttled", "too many requests"),
}
_KEPT_HEADERS = ("Allow", "WWW-Authenticate", "Retry-After", "X-Request-ID")


class ApiErrorMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code < 400
            or not request.path.startswith(API_PREFIX)
            or response.get("Content-Type", "").startswith("application/json")
            or isinstance(getattr(response, "accepted_renderer", None), BrowsableAPIRenderer)
        ):
            return response
        return json_error(response)


def json_error(response: HttpResponse) -> JsonResponse:
    """The API's error body for ``response``'s status, with its meaningful headers."""
    status = response.status_code
    if status >= 500:
        body = internal_error_body()
    else:
        code, message = _CODES.get(status, ("request_refused", "the request is refused"))
        body = error_body(code, message)
    replaced = JsonResponse(body, status=status)
    for header in _KEPT_HEADERS:
        if header in response:
            replaced[header] = response[header]
    return replaced
