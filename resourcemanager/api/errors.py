"""JSON errors with stable codes: ``{"code": ..., "message": ..., "fields": {...}}``.

Unexpected exceptions become a 500 carrying only the request id; never a stack trace.
"""

import logging

from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response

from resourcemanager.api.refusals import audit_refusal
from resourcemanager.core.errors import ServiceError
from resourcemanager.telemetry.context import get_request_id

logger = logging.getLogger(__name__)

_DRF_CODES = {
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "forbidden",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.ParseError: "malformed_request",
    exceptions.ValidationError: "invalid_input",
    exceptions.Throttled: "throttled",
}


class ServiceException(exceptions.APIException):
    """A ``ServiceError`` raised where DRF expects an ``APIException``.

    DRF catches only its own exceptions in some places, e.g. where the browsable API asks
    the permission check which forms to show; anything else there is a 500.
    """

    def __init__(self, error: ServiceError) -> None:
        super().__init__(detail=error.message, code=error.code)
        self.status_code = error.status
        self.error = error


def error_body(code: str, message: str, fields: object = None) -> dict:
    body = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    return body


def exception_handler(exc: Exception, context: dict) -> Response:
    response = _error_response(exc)
    if response.status_code in (401, 403):
        audit_refusal(context["request"], context.get("view"), response.status_code,
                      response.data["message"])
    return response


def _error_response(exc: Exception) -> Response:
    if isinstance(exc, ServiceException):
        exc = exc.error
    if isinstance(exc, ServiceError):
        fields = {exc.field: [exc.message]} if exc.field else None
        return Response(error_body(exc.code, exc.message, fields), status=exc.status)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    if isinstance(exc, exceptions.APIException):
        code = next(
            (c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), exc.default_code
        )
        if isinstance(exc, exceptions.ValidationError):
            return Response(
                error_body(code, "the request is not valid", exc.detail), status=exc.status_code
            )
        response = Response(error_body(code, str(exc.detail)), status=exc.status_code)
        if getattr(exc, "auth_header", None):
            response["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None):
            response["Retry-After"] = str(int(exc.wait))
        return response
    logger.exception("unhandled error in API view")
    return Response(internal_error_body(), status=status.HTTP_500_INTERNAL_SERVER_ERROR)


def internal_error_body() -> dict:
    return error_body("internal_error", f"internal error (request id {get_request_id()})")
