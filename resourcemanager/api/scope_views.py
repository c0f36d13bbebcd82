"""The scope's settings (``/settings``, read by every member, changed by its ADMIN),
quota (``/quota``) and each resource's size limit (``/resources/<id>/quota``), read by
every member, changed by platform operators."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from resourcemanager.api.scoping import ScopedAPIView
from resourcemanager.api.strict import StrictInput
from resourcemanager.api.views import SCOPE_HEADER
from resourcemanager.identity.roles import Action
from resourcemanager.resources import quotas
from resourcemanager.resources.models import Resource
from resourcemanager.scopes import services
from resourcemanager.scopes.models import ScopeQuota, ScopeSettings


class ScopeSettingsSerializer(StrictInput, serializers.ModelSerializer):
    credential_self_service = serializers.ChoiceField(
        choices=ScopeSettings.SelfService.values, required=False, allow_blank=True,
        help_text="The highest access a USER may issue for itself (holder user:<name>), "
        "and renew and revoke: empty (off, the default), read-only or read-write.")
    credential_default_ttl = serializers.IntegerField(
        required=False, allow_null=True,
        help_text="Seconds a credential lives when its request names no ttl "
        "(null: it does not expire).")
    credential_max_ttl = serializers.IntegerField(
        required=False, allow_null=True,
        help_text="The scope's ceiling for ttl and max_ttl, in seconds, below the "
        "server's RM_CREDENTIAL_MAX_TTL (null: the server's).")

    class Meta:
        model = ScopeSettings
        fields = ["scope", "credential_self_service", "credential_default_ttl",
                  "credential_max_ttl", "updated_by", "updated_at"]
        read_only_fields = ["scope", "updated_by", "updated_at"]
        extra_kwargs = {"updated_at": {"allow_null": True}}  # null: never changed


class ScopeSettingsView(ScopedAPIView):
    required_actions = {"get": Action.VIEW_SCOPE_SETTINGS,
                        "head": Action.VIEW_SCOPE_SETTINGS,
                        "options": Action.VIEW_SCOPE_SETTINGS,
                        "patch": Action.MANAGE_SCOPE_SETTINGS}
    serializer_class = ScopeSettingsSerializer

    @extend_schema(parameters=[SCOPE_HEADER], summary="The scope's settings")
    def get(self, request: Request, *args, **kwargs) -> Response:
        found = services.view_settings(self.principal, self.scope)
        return Response(ScopeSettingsSerializer(found).data)

    @extend_schema(parameters=[SCOPE_HEADER], request=ScopeSettingsSerializer,
                   summary="Change the scope's settings (ADMIN)")
    def patch(self, request: Request, *args, **kwargs) -> Response:
        parsed = ScopeSettingsSerializer(data=request.data, partial=True)
        parsed.is_valid(raise_exception=True)
        changed = services.update_settings(self.principal, self.scope, **parsed.validated_data)
        return Response(ScopeSettingsSerializer(changed).data)


class UsageSerializer(serializers.Serializer):
    resources = serializers.IntegerField(help_text="Resources held (deleted ones aside).")
    credentials = serializers.IntegerField(
        help_text="Credentials held (revoked ones and the owners' aside).")
    bytes = serializers.IntegerField(
        help_text="Bytes its resources held when the CHECK sweep last measured them.")
    objects = serializers.IntegerField(
        help_text="Objects its buckets held then (backends that count objects only).")
    frozen = serializers.IntegerField(help_text="Resources frozen over a size limit.")
    operations = serializers.IntegerField(
        help_text="Provider operations finished on its resources and credentials, as "
        "long as the audit keeps them.")


class ScopeQuotaSerializer(StrictInput, serializers.ModelSerializer):
    max_resources = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, max_value=quotas.MAX_LIMIT,
        help_text="Resources the scope may hold at once, managed or registered (null: no "
        "limit).")
    max_credentials = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, max_value=quotas.MAX_LIMIT,
        help_text="Credentials the scope's resources may hold at once, consumers' included "
        "(null: no limit).")
    max_bytes = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, max_value=quotas.MAX_BYTES,
        help_text="Bytes the scope's resources may hold together; over it, the CHECK sweep "
        "freezes them (null: no limit).")
    usage = UsageSerializer(read_only=True, help_text="What the scope holds now.")

    class Meta:
        model = ScopeQuota
        fields = ["scope", "max_resources", "max_credentials", "max_bytes", "usage",
                  "updated_by", "updated_at"]
        read_only_fields = ["scope", "usage", "updated_by", "updated_at"]
        extra_kwargs = {"updated_at": {"allow_null": True}}  # null: never changed


class ScopeQuotaView(ScopeSettingsView):
    required_actions = {"get": Action.VIEW_QUOTA, "head": Action.VIEW_QUOTA,
                        "options": Action.VIEW_QUOTA, "patch": Action.MANAGE_QUOTA}
    serializer_class = ScopeQuotaSerializer

    @extend_schema(parameters=[SCOPE_HEADER], summary="The scope's quota and usage")
    def get(self, request: Request, *args, **kwargs) -> Response:
        return self._answer(*quotas.view_quota(self.principal, self.scope))

    @extend_schema(parameters=[SCOPE_HEADER], request=ScopeQuotaSerializer,
                   summary="Change the scope's quota (platform operators)")
    def patch(self, request: Request, *args, **kwargs) -> Response:
        parsed = ScopeQuotaSerializer(data=request.data, partial=True)
        parsed.is_valid(raise_exception=True)
        quota = quotas.update_quota(self.principal, self.scope, **parsed.validated_data)
        return self._answer(quota, quotas.usage_of(self.scope))

    @staticmethod
    def _answer(quota: ScopeQuota, usage: quotas.Usage) -> Response:
        quota.usage = usage
        return Response(ScopeQuotaSerializer(quota).data)


class ResourceLimitSerializer(StrictInput, serializers.ModelSerializer):
    max_bytes = serializers.IntegerField(
        required=True, allow_null=True, min_value=0, max_value=quotas.MAX_BYTES,
        help_text="Bytes the resource may hold; over it, the CHECK sweep freezes it "
        "(null: no limit of its own).")

    class Meta:
        model = Resource
        fields = ["id", "name", "max_bytes", "size", "size_objects", "size_measured_at",
                  "frozen", "frozen_reason", "frozen_at"]
        read_only_fields = [name for name in fields if name != "max_bytes"]


RESOURCE_PATH = OpenApiParameter("resource_pk", OpenApiTypes.UUID, OpenApiParameter.PATH,
                                 description="The resource's id.")


class ResourceLimitView(ScopeSettingsView):
    """One resource's size, limit and freeze (members), its limit set by operators."""

    required_actions = ScopeQuotaView.required_actions
    serializer_class = ResourceLimitSerializer

    @extend_schema(parameters=[SCOPE_HEADER, RESOURCE_PATH],
                   summary="A resource's size limit and usage")
    def get(self, request: Request, resource_pk: str, *args, **kwargs) -> Response:
        found = quotas.view_resource_limit(self.principal, self.scope, resource_pk)
        return Response(ResourceLimitSerializer(found).data)

    @extend_schema(parameters=[SCOPE_HEADER, RESOURCE_PATH], request=ResourceLimitSerializer,
                   summary="Set a resource's size limit (platform operators)")
    def patch(self, request: Request, resource_pk: str, *args, **kwargs) -> Response:
        parsed = ResourceLimitSerializer(data=request.data)
        parsed.is_valid(raise_exception=True)
        changed = quotas.set_resource_limit(self.principal, self.scope, resource_pk,
                                            parsed.validated_data["max_bytes"])
        return Response(ResourceLimitSerializer(changed).data)
