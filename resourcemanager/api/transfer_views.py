"""``GET /resources/{id}/export`` streams a backup's dump to the client;
``POST /resources/{id}/import`` takes a dump as the request's body and keeps it as a
backup of the resource (then restored by ``POST /resources/{id}/restore``)."""

from __future__ import annotations

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import UnsupportedMediaType
from rest_framework.request import Request
from rest_framework.response import Response

from resourcemanager.api.backup_serializers import BackupSerializer
from resourcemanager.api.scoping import OfResourceMixin, ScopedAPIView
from resourcemanager.api.views import SCOPE_HEADER
from resourcemanager.backups import transfers
from resourcemanager.identity.roles import Action

DUMP_TYPE = "application/octet-stream"
PATH = [
    SCOPE_HEADER,
    OpenApiParameter("resource_pk", OpenApiTypes.UUID, OpenApiParameter.PATH,
                     description="The resource's id."),
]


class ExportView(OfResourceMixin, ScopedAPIView):
    required_actions = {"get": Action.MANAGE_RESOURCE, "head": Action.MANAGE_RESOURCE,
                        "options": Action.MANAGE_RESOURCE}

    @extend_schema(
        parameters=[*PATH, OpenApiParameter(
            "backup", OpenApiTypes.UUID,
            description="The backup to export (default: the newest completed one).")],
        responses={200: OpenApiResponse(OpenApiTypes.BINARY, description=(
            "The dump, as the server's own tools read it: a pg_dump custom-format "
            "archive (pg_restore) or a mysqldump SQL script (mysql)."))},
        summary="Download a backup's dump (RESOURCE_ADMIN, ADMIN; audited)",
    )
    def get(self, request: Request, *args, **kwargs) -> StreamingHttpResponse:
        export = transfers.export_backup(self.principal, self.resource,
                                         request.query_params.get("backup"))
        response = StreamingHttpResponse(export.chunks, content_type=DUMP_TYPE)
        response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
        response["X-Backup-Id"] = str(export.backup.pk)
        return response


class ImportView(OfResourceMixin, ScopedAPIView):
    required_actions = {"post": Action.MANAGE_RESOURCE, "options": Action.MANAGE_RESOURCE}

    @extend_schema(
        parameters=PATH,
        request={DUMP_TYPE: OpenApiTypes.BINARY},
        responses={201: BackupSerializer},
        summary="Upload a dump as a backup of the resource, to restore with restore/ "
                "(RESOURCE_ADMIN, ADMIN; audited)",
    )
    def post(self, request: Request, *args, **kwargs) -> Response:
        if request.content_type.split(";")[0].strip() != DUMP_TYPE:
            raise UnsupportedMediaType(request.content_type,
                                       detail=f"send the dump as {DUMP_TYPE}")
        length = request.META.get("CONTENT_LENGTH") or ""
        backup = transfers.import_dump(
            self.principal, self.resource, request.stream,
            int(length) if length.isascii() and length.isdigit() else None)
        return Response(BackupSerializer(backup).data, status=status.HTTP_201_CREATED)
