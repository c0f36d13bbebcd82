"""A resource's backups and restores: ``/resources/{id}/backups`` and ``…/restores``
(read only; BACKUP and RESTORE themselves are actions of the resource)."""

from __future__ import annotations

from functools import cached_property

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, viewsets

from resourcemanager.api.backup_serializers import BackupSerializer, RestoreSerializer
from resourcemanager.api.scoping import ScopedViewMixin
from resourcemanager.api.views import SCOPE_HEADER
from resourcemanager.backups import services as backups
from resourcemanager.backups.models import Backup, Restore
from resourcemanager.identity.roles import Action
from resourcemanager.resources import services
from resourcemanager.resources.models import Resource

PATH = [
    SCOPE_HEADER,
    OpenApiParameter("resource_pk", OpenApiTypes.UUID, OpenApiParameter.PATH,
                     description="The resource's id."),
]
ONE = [*PATH, OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH,
                               description="The backup's (restore's) id.")]


class _OfResource(ScopedViewMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                  viewsets.GenericViewSet):
    required_actions = {
        "list": Action.VIEW_RESOURCE,
        "retrieve": Action.VIEW_RESOURCE,
        "metadata": Action.VIEW_RESOURCE,
    }

    @cached_property
    def resource(self) -> Resource:
        return services.get_resource(self.principal, self.scope, self.kwargs["resource_pk"])


@extend_schema_view(
    list=extend_schema(parameters=PATH, summary="Backups of a resource, newest first"),
    retrieve=extend_schema(parameters=ONE, summary="One backup (never its key)"),
)
class BackupViewSet(_OfResource):
    serializer_class = BackupSerializer
    queryset = Backup.objects.none()  # the model, for the schema; get_queryset scopes

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
