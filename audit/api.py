"""``GET /audit/export``: the scope's audit trail as JSON lines, for its ADMINs and
operators (a SIEM's collector), resumable by cursor."""

from __future__ import annotations

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request

from audit import export
from audit.models import AuditEntry
from resourcemanager.api.scoping import ScopedAPIView
from resourcemanager.api.views import SCOPE_HEADER
from resourcemanager.identity.roles import Action

MAX_LIMIT = 10_000
CURSOR_HEADER = "X-Audit-Cursor"
MORE_HEADER = "X-Audit-More"


class AuditExportView(ScopedAPIView):
    required_actions = {"get": Action.VIEW_ALL_AUDIT, "head": Action.VIEW_ALL_AUDIT,
                        "options": Action.VIEW_ALL_AUDIT}

    @extend_schema(
        parameters=[
            SCOPE_HEADER,
            OpenApiParameter("after", int, description="The cursor: only entries whose seq "
                             "is above it (default 0). Resume with the X-Audit-Cursor of the "
                             "previous answer, the seq of its last line."),
            OpenApiParameter("limit", int, description=f"At most this many entries (1 to "
                             f"{MAX_LIMIT}, default {export.BATCH})."),
        ],
        responses={(200, "application/x-ndjson"): OpenApiResponse(OpenApiTypes.STR, description=(
            "application/x-ndjson: one sealed entry per line (its columns, seq, prev_hash, "
            f"entry_hash). {CURSOR_HEADER}: the seq to resume after; {MORE_HEADER}: true "
            "when more entries are waiting."))},
        summary="The scope's audit trail as JSON lines, from a cursor (ADMIN)",
    )
    def get(self, request: Request, *args, **kwargs) -> StreamingHttpResponse:
        after = _whole_number(request, "after", 0, minimum=0, maximum=None)
        limit = _whole_number(request, "limit", export.BATCH, minimum=1, maximum=MAX_LIMIT)
        entries = AuditEntry.objects.visible_to(self.principal, Action.VIEW_ALL_AUDIT,
                                                self.scope)
        places = list(entries.sealed().filter(seq__gt=after).order_by("seq")
                      .values_list("seq", flat=True)[:limit])
        last = places[-1] if places else after
        lines = (f"{export.line(row)}\n"
                 for row in export.rows_after(entries.filter(seq__lte=last), after))
        response = StreamingHttpResponse(lines, content_type="application/x-ndjson")
        response[CURSOR_HEADER] = str(last)
        response[MORE_HEADER] = "true" if len(places) == limit else "false"
        return response


def _whole_number(request: Request, name: str, default: int, *, minimum: int,
                  maximum: int | None) -> int:
    text = request.query_params.get(name)
    if text is None:
        return default
    bound = f" to {maximum}" if maximum is not None else " up"
    if not text.isascii() or not text.isdigit() or int(text) < minimum or (
            maximum is not None and int(text) > maximum):
        raise ValidationError({name: [f"a whole number from {minimum}{bound}"]})
    return int(text)
