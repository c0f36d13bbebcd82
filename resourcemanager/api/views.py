"""API views: parse, ask the service, render. No state changes happen here."""

from celery import current_app
from django.db.models import Model, QuerySet
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from providers import services as provider_services
from providers.models import Provider
from resourcemanager.api import serializers
from resourcemanager.api.backup_serializers import (
    BackupSerializer,
    CleanupRequestSerializer,
    CleanupSerializer,
    CloneRequestSerializer,
    CloneSerializer,
    RestoreRequestSerializer,
    RestoreSerializer,
)
from resourcemanager.api.filters import ResourceFilter
from resourcemanager.api.scoping import ScopedViewMixin
from resourcemanager.backups import cleanups, clones
from resourcemanager.backups import services as backups
from resourcemanager.identity.roles import Action
from resourcemanager.resources import services
from resourcemanager.resources.models import Resource

SCOPE_HEADER = OpenApiParameter(
    "X-Scope",
    str,
    OpenApiParameter.HEADER,
    required=False,
    description="Scope of the request (default: the configured default scope).",
)


def as_it_is_now(instance: Model) -> Model:
    """``instance`` as a request's answer shows it. Where tasks run in this process, the
    operation the request queued ran on commit: the row is read again. With a worker, the
    instance the request wrote is the row as of its commit; no read is spent on it."""
    if current_app.conf.task_always_eager:
        instance.refresh_from_db()
    return instance


@extend_schema_view(
    list=extend_schema(parameters=[SCOPE_HEADER], summary="List resources (not deleted ones)"),
    retrieve=extend_schema(parameters=[SCOPE_HEADER],
                           summary="A resource with its connection (no secret)"),
    create=extend_schema(
        parameters=[SCOPE_HEADER],
        request=serializers.ResourceCreateSerializer,
        responses={201: serializers.ResourceWithSecretSerializer},
        summary="Create a managed resource, empty or from a backup of the scope; its owner "
                "credentials are in this answer",
    ),
    partial_update=extend_schema(
        parameters=[SCOPE_HEADER],
        request=serializers.ResourceUpdateSerializer,
        responses={200: serializers.ResourceDetailSerializer},
        summary="Change tags or properties",
    ),
    destroy=extend_schema(
        parameters=[SCOPE_HEADER],
        responses={202: serializers.ResourceSerializer},
        summary="Delete the resource, its login and all its data",
    ),
    check=extend_schema(
        parameters=[SCOPE_HEADER],
        request=serializers.CheckRequestSerializer,
        responses={202: serializers.ResourceSerializer},
        summary="Check the resource and its login, repairing access",
    ),
    add=extend_schema(
        parameters=[SCOPE_HEADER],
        request=serializers.ResourceAddSerializer,
        responses={201: serializers.ResourceWithSecretSerializer},
        summary="Register an external (unmanaged, read-only) resource by URI",
    ),
    reveal=extend_schema(
        parameters=[SCOPE_HEADER], request=None,
        responses={200: serializers.ResourceWithSecretSerializer},
        summary="The resource's owner credentials (RESOURCE_ADMIN, ADMIN; audited)",
    ),
    backup=extend_schema(
        parameters=[SCOPE_HEADER], request=None, responses={202: BackupSerializer},
        summary="Back up the resource's data to the backup store (RESOURCE_ADMIN, ADMIN; "
                "audited); a backup under way is the answer",
    ),
    restore=extend_schema(
        parameters=[SCOPE_HEADER], request=RestoreRequestSerializer,
        responses={202: RestoreSerializer},
        summary="Replace the resource's data with a backup's, of this resource or another "
                "one of the scope (RESOURCE_ADMIN, ADMIN; audited); confirm names the resource",
    ),
    cleanup=extend_schema(
        parameters=[SCOPE_HEADER], request=CleanupRequestSerializer,
        responses={202: CleanupSerializer},
        summary="Drop all the resource's data, keeping it and its credentials, then restore "
                "a template backup if given (RESOURCE_ADMIN, ADMIN; audited); confirm names "
                "the resource",
    ),
    clone=extend_schema(
        parameters=[SCOPE_HEADER], request=CloneRequestSerializer,
        responses={202: CloneSerializer},
        summary="Make a new resource of the scope holding a copy of this one's data "
                "(RESOURCE_ADMIN, ADMIN; audited); a failed clone deletes the new resource",
    ),
)
class ResourceViewSet(
    ScopedViewMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    filterset_class = ResourceFilter
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    required_actions = {
        "list": Action.VIEW_RESOURCE,
        "retrieve": Action.VIEW_RESOURCE,
        "create": Action.MANAGE_RESOURCE,
        "partial_update": Action.MANAGE_RESOURCE,
        "destroy": Action.MANAGE_RESOURCE,
        "check": Action.CHECK_RESOURCE,
        "add": Action.MANAGE_RESOURCE,
        "reveal": Action.MANAGE_CREDENTIAL,
        "backup": Action.MANAGE_RESOURCE,
        "restore": Action.MANAGE_RESOURCE,
        "cleanup": Action.MANAGE_RESOURCE,
        "clone": Action.MANAGE_RESOURCE,
        "metadata": Action.VIEW_RESOURCE,
    }

    def get_queryset(self) -> QuerySet[Resource]:
        queryset = Resource.objects.visible_to(self.principal, Action.VIEW_RESOURCE, self.scope)
        if self.action == "list" and "status" not in self.request.query_params:
            queryset = queryset.live()
        return queryset.select_related("provider")

    def get_serializer_class(self):
        if self.action == "list":
            return serializers.ResourceSerializer
        return serializers.ResourceDetailSerializer

    def get_object(self) -> Resource:
        return services.get_resource(self.principal, self.scope, self.kwargs["pk"])

    def create(self, request: Request, *args, **kwargs) -> Response:
        data = self._valid(serializers.ResourceCreateSerializer, request.data)
        from_backup = data.pop("from_backup", None)
        resource_request = services.prepare_resource(self.principal, self.scope, **data)
        if from_backup is None:
            resource = services.create_resource(self.principal, resource_request)
        else:
            resource = clones.create_from_backup(self.principal, resource_request,
                                                 from_backup).resource
        return self._render(resource, status.HTTP_201_CREATED, secret=True)

    def partial_update(self, request: Request, *args, **kwargs) -> Response:
        data = self._valid(serializers.ResourceUpdateSerializer, request.data)
        resource = services.update_resource(self.principal, self.get_object(), **data)
        return self._render(resource, status.HTTP_200_OK)

    def destroy(self, request: Request, *args, **kwargs) -> Response:
        resource = services.delete_visible_resource(self.principal, self.scope,
                                                    self.kwargs["pk"])
        return self._render(resource, status.HTTP_202_ACCEPTED, detail=False)

    @action(detail=True, methods=["post"])
    def check(self, request: Request, *args, **kwargs) -> Response:
        data = self._valid(serializers.CheckRequestSerializer, request.data)
        resource = services.check_resource(self.principal, self.get_object(), **data)
        return self._render(resource, status.HTTP_202_ACCEPTED, detail=False)

    @action(detail=False, methods=["post"])
    def add(self, request: Request, *args, **kwargs) -> Response:
        data = self._valid(serializers.ResourceAddSerializer, request.data)
        resource = services.register_resource(self.principal, self.scope, **data)
        return self._render(resource, status.HTTP_201_CREATED, secret=True)

    @action(detail=True, methods=["post"])
    def reveal(self, request: Request, *args, **kwargs) -> Response:
        resource = self.get_object()
        resource.credentials = services.reveal_owner_credentials(self.principal, resource)
        return self._secret_response(resource, status.HTTP_200_OK)

    @action(detail=True, methods=["post"])
    def backup(self, request: Request, *args, **kwargs) -> Response:
        made = backups.request_backup(self.principal, self.get_object())
        made.refresh_from_db()  # a run in-process may be over already
        return Response(BackupSerializer(made).data, status=status.HTTP_202_ACCEPTED)

    @action(detail=True, methods=["post"])
    def restore(self, request: Request, *args, **kwargs) -> Response:
        data = self._valid(RestoreRequestSerializer, request.data)
        made = backups.request_restore(self.principal, self.get_object(), **data)
        made.refresh_from_db()
        return Response(RestoreSerializer(made).data, status=status.HTTP_202_ACCEPTED)

    @action(detail=True, methods=["post"])
    def cleanup(self, request: Request, *args, **kwargs) -> Response:
        data = self._valid(CleanupRequestSerializer, request.data)
        made = cleanups.request_cleanup(self.principal, self.get_object(), **data)
        made.refresh_from_db()
        return Response(CleanupSerializer(made).data, status=status.HTTP_202_ACCEPTED)

    @action(detail=True, methods=["post"])
    def clone(self, request: Request, *args, **kwargs) -> Response:
        data = self._valid(CloneRequestSerializer, request.data)
        made = clones.request_clone(self.principal, self.get_object(), **data)
        made.refresh_from_db()
        return Response(CloneSerializer(made).data, status=status.HTTP_202_ACCEPTED)

    @staticmethod
    def _valid(serializer_class, data) -> dict:
        serializer = serializer_class(data=data)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def _render(
        self, resource: Resource, code: int, *, detail: bool = True, secret: bool = False
    ) -> Response:
        """Render the resource as it is now (``as_it_is_now``), with its owner ``secret``
        only in the answer that made it."""
        as_it_is_now(resource)
        if secret:
            return self._secret_response(resource, code)
        serializer_class = (
            serializers.ResourceDetailSerializer if detail else serializers.ResourceSerializer
        )
        return Response(serializer_class(resource).data, status=code)

    @staticmethod
    def _secret_response(resource: Resource, code: int) -> Response:
        # A secret is for the caller, never for a cache on the way.
        return Response(serializers.ResourceWithSecretSerializer(resource).data, status=code,
                        headers={"Cache-Control": "no-store"})


@extend_schema_view(
    list=extend_schema(parameters=[SCOPE_HEADER], summary="Provider instances of this scope"),
    retrieve=extend_schema(parameters=[SCOPE_HEADER], summary="A provider instance"),
    test=extend_schema(
        parameters=[SCOPE_HEADER], request=None,
        responses={200: serializers.ProviderSerializer},
        summary="Test the instance's connection now (platform operators); the answer "
                "carries the outcome as its reachability",
    ),
)
class ProviderViewSet(ScopedViewMixin, viewsets.ReadOnlyModelViewSet):
    serializer_class = serializers.ProviderSerializer
    lookup_field = "key"
    pagination_class = None
    required_actions = {
        "list": Action.VIEW_PROVIDER,
        "retrieve": Action.VIEW_PROVIDER,
        # Every member reaches the route; the service lets operators alone test.
        "test": Action.VIEW_PROVIDER,
        "metadata": Action.VIEW_PROVIDER,
    }

    def get_queryset(self) -> QuerySet[Provider]:
        return Provider.objects.usable_in(self.scope)

    @action(detail=True, methods=["post"])
    def test(self, request: Request, *args, **kwargs) -> Response:
        provider_services.run_connection_test(self.principal, self.scope, self.kwargs["key"])
        return Response(serializers.ProviderSerializer(self.get_object()).data)
