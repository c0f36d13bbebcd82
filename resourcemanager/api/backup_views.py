"""A resource's backups, restores, cleanups and clones: ``/resources/{id}/backups``,
``…/restores``, ``…/cleanups``, ``…/clones`` (read only; BACKUP, RESTORE, CLEANUP and
CLONE themselves are actions of the resource)."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from resourcemanager.api.backup_serializers import (
    BackupSerializer,
    CleanupSerializer,
    CloneSerializer,
    RestoreSerializer,
    TemplateRequestSerializer,
)
from resourcemanager.api.scoping import OfResourceMixin, ScopedViewMixin
from resourcemanager.api.views import SCOPE_HEADER
from resourcemanager.backups import cleanups, clones, templates
from resourcemanager.backups import services as backups
from resourcemanager.backups.models import Backup, Cleanup, Clone, Restore
from resourcemanager.core.errors import NotFound
from resourcemanager.identity.roles import Action

PATH = [
    SCOPE_HEADER,
    OpenApiParameter("resource_pk", OpenApiTypes.UUID, OpenApiParameter.PATH,
                     description="The resource's id."),
]
ONE = [*PATH, OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH,
                               description="The backup's (restore's, cleanup's, clone's) id.")]


class _OfResource(OfResourceMixin, ScopedViewMixin, mixins.ListModelMixin,
                  mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    required_actions = {
        "list": Action.VIEW_RESOURCE,
        "retrieve": Action.VIEW_RESOURCE,
        "metadata": Action.VIEW_RESOURCE,
    }


@extend_schema_view(
    list=extend_schema(parameters=PATH, summary="Backups of a resource, newest first"),
    retrieve=extend_schema(parameters=ONE, summary="One backup (never its key)"),
    template=extend_schema(
        parameters=ONE, request=TemplateRequestSerializer, responses=BackupSerializer,
        summary="Name the backup as a template of the scope, or take the name away "
                "(RESOURCE_ADMIN, ADMIN; audited); retention keeps it"),
)
class BackupViewSet(_OfResource):
    serializer_class = BackupSerializer
    queryset = Backup.objects.none()  # the model, for the schema; get_queryset scopes
    required_actions = {**_OfResource.required_actions, "template": Action.MANAGE_RESOURCE}

    @action(detail=True, methods=["post"])
    def template(self, request: Request, *args, **kwargs) -> Response:
        serializer = TemplateRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        named = templates.name_template(self.principal, self.resource, self.kwargs["pk"],
                                        serializer.validated_data["name"])
        return Response(BackupSerializer(named).data)

    def get_queryset(self) -> QuerySet[Backup]:
        return backups.backups_of(self.principal, self.resource).select_related(
            "resource__provider")

    def get_object(self) -> Backup:
        return backups.get_backup(self.principal, self.resource, self.kwargs["pk"])


@extend_schema_view(
    list=extend_schema(parameters=PATH, summary="Restores into a resource, newest first"),
    retrieve=extend_schema(parameters=ONE, summary="One restore"),
)
class RestoreViewSet(_OfResource):
    serializer_class = RestoreSerializer
    queryset = Restore.objects.none()

    def get_queryset(self) -> QuerySet[Restore]:
        return backups.restores_of(self.principal, self.resource).select_related(
            "resource__provider")

    def get_object(self) -> Restore:
        return backups.get_restore(self.principal, self.resource, self.kwargs["pk"])


@extend_schema_view(
    list=extend_schema(parameters=PATH, summary="Cleanups of a resource, newest first"),
    retrieve=extend_schema(parameters=ONE, summary="One cleanup"),
)
class CleanupViewSet(_OfResource):
    serializer_class = CleanupSerializer
    queryset = Cleanup.objects.none()

    def get_queryset(self) -> QuerySet[Cleanup]:
        return cleanups.cleanups_of(self.principal, self.resource).select_related(
            "resource__provider")

    def get_object(self) -> Cleanup:
        return _one(self.get_queryset(), self.kwargs["pk"], "cleanup")


@extend_schema_view(
    list=extend_schema(parameters=PATH, summary="Clones made of a resource, or making it, "
                                                "newest first, with their progress"),
    retrieve=extend_schema(parameters=ONE, summary="One clone"),
)
class CloneViewSet(_OfResource):
    serializer_class = CloneSerializer
    queryset = Clone.objects.none()

    def get_queryset(self) -> QuerySet[Clone]:
        return clones.clones_of(self.principal, self.resource).select_related(
            "resource__provider")

    def get_object(self) -> Clone:
        return _one(self.get_queryset(), self.kwargs["pk"], "clone")


def _one(runs: QuerySet, run_id: object, what: str):
    found = runs.with_id(run_id)
    if found is None:
        raise NotFound(f"no such {what} of this resource")
    return found
