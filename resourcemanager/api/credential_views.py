"""The credentials of a resource: ``/resources/{id}/credentials``. Parse, ask the service,
render; a secret is rendered in the answers to ISSUE, ROTATE and REVEAL only."""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from providers.adapters.base import Credentials
from resourcemanager.api.scoping import OfResourceMixin, ScopedViewMixin
from resourcemanager.api.serializers import (
    FAILURE_HELP,
    CredentialsSerializer,
    FieldsWorkedOutOnce,
)
from resourcemanager.api.strict import StrictInput
from resourcemanager.api.views import SCOPE_HEADER, as_it_is_now
from resourcemanager.identity.roles import Action
from resourcemanager.resources import credentials, failures
from resourcemanager.resources.models import Credential


class CredentialSerializer(FieldsWorkedOutOnce, serializers.ModelSerializer):
    username = serializers.CharField(source="login", read_only=True)
    status_message = serializers.SerializerMethodField(help_text=FAILURE_HELP)

    class Meta:
        model = Credential
        fields = ["id", "resource", "holder", "access", "username", "status",
                  "status_message", "expires_at", "max_expires_at", "ttl", "rotation_period",
                  "next_rotation_at", "rotated_at", "issued_by", "created_at", "revoked_at"]
        read_only_fields = fields

    def get_status_message(self, credential: Credential) -> str:
        return failures.tenant_message(credential.status_message, credential.resource.provider)


class IssuedCredentialSerializer(CredentialSerializer):
    """A credential with its connection fields and secret: as issued, rotated or revealed."""

    credentials = CredentialsSerializer(read_only=True, allow_null=True)

    class Meta(CredentialSerializer.Meta):
        fields = [*CredentialSerializer.Meta.fields, "credentials"]
        read_only_fields = fields


class IssueRequestSerializer(StrictInput, serializers.Serializer):
    holder = serializers.CharField(
        help_text="Who uses it: an application's name, or user:<username>. Consumers' "
                  "own (consumer:<id>) are issued by their deliveries, not here.")
    access = serializers.CharField(help_text="read-only, read-write or owner.")
    ttl = serializers.IntegerField(
        required=False, help_text="Seconds it is valid for (default: until revoked).")
    max_ttl = serializers.IntegerField(
        required=False, help_text="Seconds from now that no renewal reaches past "
        "(default: the server's ceiling, RM_CREDENTIAL_MAX_TTL).")
    rotation_period = serializers.IntegerField(
        required=False, help_text="Rotate it every so many seconds (default: never).")


class RenewRequestSerializer(StrictInput, serializers.Serializer):
    ttl = serializers.IntegerField(
        required=False, help_text="Seconds from now (default: the credential's ttl); "
        "never past its max_expires_at.")


class RotateRequestSerializer(StrictInput, serializers.Serializer):
    grace = serializers.IntegerField(
        required=False, help_text="Seconds the replaced login keeps working "
        "(default: RM_CREDENTIAL_ROTATION_GRACE).")


class ScheduleRequestSerializer(StrictInput, serializers.Serializer):
    rotation_period = serializers.IntegerField(
        allow_null=True, help_text="Rotate it every so many seconds from now on; null: "
        "no scheduled rotation.")


PATH = [
    SCOPE_HEADER,
    OpenApiParameter("resource_pk", OpenApiTypes.UUID, OpenApiParameter.PATH,
                     description="The resource's id."),
]
ONE = [*PATH, OpenApiParameter("id", OpenApiTypes.UUID, OpenApiParameter.PATH,
                               description="The credential's id.")]


@extend_schema_view(
    list=extend_schema(parameters=PATH, summary="Credentials of a resource (no secrets)"),
    retrieve=extend_schema(parameters=ONE, summary="A credential (no secret)"),
    create=extend_schema(
        parameters=PATH, request=IssueRequestSerializer,
        responses={202: IssuedCredentialSerializer},
        summary="Issue a credential; its secret is in this answer only",
    ),
    destroy=extend_schema(
        parameters=ONE, responses={202: CredentialSerializer},
        summary="Revoke: drop the login and end its sessions",
    ),
    renew=extend_schema(
        parameters=ONE, request=RenewRequestSerializer, responses={202: CredentialSerializer},
        summary="Renew: expire ttl seconds from now, never past max_expires_at",
    ),
    rotate=extend_schema(
        parameters=ONE, request=RotateRequestSerializer,
        responses={202: IssuedCredentialSerializer},
        summary="Rotate to a new login; the new secret is in this answer, the old login "
        "works for the grace period",
    ),
    partial_update=extend_schema(
        parameters=ONE, request=ScheduleRequestSerializer,
        responses={200: CredentialSerializer},
        summary="Schedule its rotation (credential managers; the owner's credential too)",
    ),
    reveal=extend_schema(
        parameters=ONE, request=None, responses={200: IssuedCredentialSerializer},
        summary="The current secret (holder or credential managers only; audited)",
    ),
)
class CredentialViewSet(
    OfResourceMixin,
    ScopedViewMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = CredentialSerializer
    queryset = Credential.objects.none()  # the model, for the schema; get_queryset scopes
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    #: Members of the scope may read and reveal what they hold themselves, and issue,
    #: renew and revoke it where the scope's self-service allows: the queryset and the
    #: services narrow it down.
    required_actions = {
        "list": Action.VIEW_RESOURCE,
        "retrieve": Action.VIEW_RESOURCE,
        "reveal": Action.VIEW_RESOURCE,
        "create": Action.VIEW_RESOURCE,
        "destroy": Action.VIEW_RESOURCE,
        "renew": Action.VIEW_RESOURCE,
        "rotate": Action.MANAGE_CREDENTIAL,
        "partial_update": Action.MANAGE_CREDENTIAL,
        "metadata": Action.VIEW_RESOURCE,
    }

    def get_queryset(self) -> QuerySet[Credential]:
        return credentials.credentials_of(self.principal, self.resource)

    def get_object(self) -> Credential:
        return credentials.get_credential(self.principal, self.resource, self.kwargs["pk"])

    def create(self, request: Request, *args, **kwargs) -> Response:
        parsed = IssueRequestSerializer(data=request.data)
        parsed.is_valid(raise_exception=True)
        credential, secret = credentials.issue_visible_credential(
            self.principal, self.scope, self.kwargs["resource_pk"], **parsed.validated_data)
        return self._with_secret(credential, secret, status.HTTP_202_ACCEPTED)

    def destroy(self, request: Request, *args, **kwargs) -> Response:
        credential = credentials.revoke_credential(self.principal, self.get_object())
        return self._accepted(credential)

    def partial_update(self, request: Request, *args, **kwargs) -> Response:
        parsed = ScheduleRequestSerializer(data=request.data)
        parsed.is_valid(raise_exception=True)
        credential = credentials.schedule_rotation(self.principal, self.get_object(),
                                                   **parsed.validated_data)
        return Response(CredentialSerializer(credential).data)

    @action(detail=True, methods=["post"])
    def renew(self, request: Request, *args, **kwargs) -> Response:
        parsed = RenewRequestSerializer(data=request.data)
        parsed.is_valid(raise_exception=True)
        credential = credentials.renew_credential(self.principal, self.get_object(),
                                                  **parsed.validated_data)
        return self._accepted(credential)

    @action(detail=True, methods=["post"])
    def rotate(self, request: Request, *args, **kwargs) -> Response:
        parsed = RotateRequestSerializer(data=request.data)
        parsed.is_valid(raise_exception=True)
        credential, secret = credentials.rotate_credential(self.principal, self.get_object(),
                                                           **parsed.validated_data)
        return self._with_secret(credential, secret, status.HTTP_202_ACCEPTED)

    @action(detail=True, methods=["post"])
    def reveal(self, request: Request, *args, **kwargs) -> Response:
        credential = self.get_object()
        secret = credentials.reveal_credential(self.principal, credential)
        return self._with_secret(credential, secret, status.HTTP_200_OK)

    @staticmethod
    def _accepted(credential: Credential) -> Response:
        as_it_is_now(credential)
        return Response(CredentialSerializer(credential).data, status=status.HTTP_202_ACCEPTED)

    @staticmethod
    def _with_secret(credential: Credential, secret: Credentials | None, code: int) -> Response:
        """``secret`` None: the backend makes it; shown here when the run is done already
        (tasks in-process), else by a reveal once the credential is active."""
        as_it_is_now(credential)
        if secret is None and credential.status == Credential.Status.ACTIVE:
            secret = Credentials.from_dict(credential.secret)
        credential.credentials = secret
        # A secret is for the caller, never for a cache on the way.
        return Response(IssuedCredentialSerializer(credential).data, status=code,
                        headers={"Cache-Control": "no-store"})
