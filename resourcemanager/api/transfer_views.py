"""``GET /resources/{id}/export`` streams a backup's dump to the client; ``POST`` there
gives a short-lived link that downloads it without credentials (``GET /api/exports/``);
``POST /resources/{id}/import`` takes a dump as the request's body and keeps it as a
backup of the resource (then restored by ``POST /resources/{id}/restore``)."""

from __future__ import annotations

from django.http import StreamingHttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import UnsupportedMediaType
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from resourcemanager.api.backup_serializers import BackupSerializer
from resourcemanager.api.scoping import OfResourceMixin, ScopedAPIView
from resourcemanager.api.strict import StrictInput
from resourcemanager.api.views import SCOPE_HEADER
from resourcemanager.backups import export_links, transfers
from resourcemanager.backups.transfers import Export
from resourcemanager.identity.roles import Action

DUMP_TYPE = "application/octet-stream"
PATH = [
    SCOPE_HEADER,
    OpenApiParameter("resource_pk", OpenApiTypes.UUID, OpenApiParameter.PATH,
                     description="The resource's id."),
]


class ExportLinkRequestSerializer(StrictInput, serializers.Serializer):
    backup = serializers.UUIDField(required=False, help_text=(
        "The backup to export (default: the newest completed one)."))


class ExportLinkSerializer(serializers.Serializer):
    url = serializers.CharField(help_text="Downloads the dump, without credentials, "
                                "until expires_at; keep it as secret as a password.")
    expires_at = serializers.DateTimeField()
    backup = serializers.UUIDField()


class ExportView(OfResourceMixin, ScopedAPIView):
    required_actions = {"get": Action.MANAGE_RESOURCE, "head": Action.MANAGE_RESOURCE,
                        "post": Action.MANAGE_RESOURCE, "options": Action.MANAGE_RESOURCE}

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
        return _download(transfers.export_backup(self.principal, self.resource,
                                                 request.query_params.get("backup")))

    @extend_schema(
        parameters=PATH, request=ExportLinkRequestSerializer,
        responses={201: ExportLinkSerializer},
        summary="A short-lived link that downloads a backup's dump without credentials "
                "(RESOURCE_ADMIN, ADMIN; audited, as is every use)",
    )
    def post(self, request: Request, *args, **kwargs) -> Response:
        parsed = ExportLinkRequestSerializer(data=request.data)
        parsed.is_valid(raise_exception=True)
        link = export_links.issue_export_link(self.principal, self.resource,
                                              parsed.validated_data.get("backup"))
        url = request.build_absolute_uri(reverse("export-link")) + f"?token={link.token}"
        return Response(ExportLinkSerializer(
            {"url": url, "expires_at": link.expires_at, "backup": link.backup.pk}).data,
            status=status.HTTP_201_CREATED)


class ExportLinkView(APIView):
    """Where an export link leads: its token is the only credential it needs. The token
    travels in the query string, which the access log never writes."""

    authentication_classes = ()
    permission_classes = (AllowAny,)
    http_method_names = ["get", "options"]

    @extend_schema(
        parameters=[OpenApiParameter("token", OpenApiTypes.STR, required=True,
                                     description="The token of a link from POST …/export.")],
        responses={200: OpenApiResponse(OpenApiTypes.BINARY, description="The dump."),
                   404: OpenApiResponse(description="No such link, or its backup is gone."),
                   410: OpenApiResponse(description="The link has expired.")},
        summary="Download a backup's dump through an export link (no credentials)",
    )
    def get(self, request: Request, *args, **kwargs) -> StreamingHttpResponse:
        return _download(export_links.export_by_link(request.query_params.get("token", "")))


def _download(export: Export) -> StreamingHttpResponse:
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
