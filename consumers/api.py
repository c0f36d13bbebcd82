"""API of consumers and builders: parse, ask ``consumers.services``, render."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from consumers import services
from consumers.builders.base import ConsumerBuilder
from consumers.builders.registry import BUILDERS
from consumers.models import Consumer, Delivery
from providers.adapters.properties import KINDS
from resourcemanager.api.scoping import ScopedViewMixin
from resourcemanager.api.strict import StrictInput
from resourcemanager.api.views import SCOPE_HEADER
from resourcemanager.identity.roles import Action

# --- serializers ----------------------------------------------------------------------


class DeliveryStatusSerializer(serializers.Serializer):
    last_success_at = serializers.DateTimeField(
        source="last_delivered_at", allow_null=True, help_text="The latest delivery.")
    last_error = serializers.CharField(
        allow_null=True, help_text="The latest failed attempt's reason, retried or not.")
    last_error_at = serializers.DateTimeField(
        allow_null=True, help_text="When it failed: a later last_success_at means the "
        "consumer works again.")
    pending = serializers.IntegerField(source="pending_deliveries",
                                       help_text="Deliveries not done yet, retrying included.")
    retrying = serializers.IntegerField(source="retrying_deliveries",
                                        help_text="Pending deliveries waiting for a retry.")
    next_retry_at = serializers.DateTimeField(allow_null=True,
                                              help_text="The earliest retry due.")
    failed = serializers.IntegerField(source="failed_deliveries",
                                      help_text="Deliveries given up with an error.")
    skipped = serializers.IntegerField(
        source="skipped_deliveries", help_text="Deliveries with nothing left to deliver "
        "(the consumer disabled, the resource's credentials gone meanwhile): no error.")
    failures_in_a_row = serializers.IntegerField(
        help_text="Deliveries that failed in a row in a way worth retrying.")
    paused_until = serializers.DateTimeField(
        allow_null=True, help_text="Set while the consumer is held back: after a failure "
        "its deliveries go one at a time, after RM_CONSUMER_BREAKER_FAILURES in a row they "
        "wait until then; a success resumes it.")


class DeliverySerializer(serializers.ModelSerializer):
    resource = serializers.SerializerMethodField(help_text="The resource's id and name.")
    next_retry_at = serializers.DateTimeField(source="next_attempt_at", allow_null=True)

    class Meta:
        model = Delivery
        fields = ["id", "event", "event_id", "resource", "status", "attempts", "created_at",
                  "delivered_at", "last_error", "last_error_at", "next_retry_at",
                  "skip_reason"]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_resource(self, delivery: Delivery) -> dict[str, Any]:
        return {"id": str(delivery.resource_id), "name": delivery.resource.get("name")}


class ConsumerSerializer(serializers.ModelSerializer):
    properties = serializers.SerializerMethodField(
        help_text=f"The builder's properties; secrets are shown as {services.MASK!r}."
    )
    delivery_status = DeliveryStatusSerializer(source="*", read_only=True)

    class Meta:
        model = Consumer
        fields = [
            "id",
            "scope",
            "builder",
            "name",
            "tags",
            "resource_types",
            "properties",
            "enabled",
            "credential_access",
            "delivery_status",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_properties(self, consumer: Consumer) -> dict[str, Any]:
        return services.masked_properties(consumer)


PROPERTIES_HELP = (
    "Properties of the builder (see /builders). Secrets left empty, or sent back as "
    f"{services.MASK!r}, keep their stored value; null removes a property."
)


class ConsumerUpdateSerializer(StrictInput, serializers.Serializer):
    name = serializers.CharField(trim_whitespace=False, required=False)
    tags = serializers.ListField(
        child=serializers.CharField(), required=False,
        help_text="Only resources sharing one of these tags are delivered; empty: all.",
    )
    resource_types = serializers.ListField(
        child=serializers.CharField(), required=False,
        help_text="Only these resource types are delivered; empty: all the builder handles.",
    )
    properties = serializers.DictField(required=False, help_text=PROPERTIES_HELP)
    enabled = serializers.BooleanField(required=False)
    credential_access = serializers.CharField(
        required=False, help_text=(
            "read-only, read-write or owner: the access level of the login of its own it "
            "is given on each resource (default: the builder's, see /builders)."),
    )


class ConsumerCreateSerializer(ConsumerUpdateSerializer):
    builder = serializers.CharField(help_text="Key of a builder (see /builders).")
    name = serializers.CharField(
        trim_whitespace=False, help_text="Your name for it, unique in the scope."
    )


class SyncResultSerializer(serializers.Serializer):
    queued = serializers.IntegerField(help_text="Resources queued for delivery.")
    consumer = ConsumerSerializer()


class PropertySpecSerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()
    required = serializers.BooleanField()
    secret = serializers.BooleanField()
    kind = serializers.ChoiceField(choices=KINDS)
    default = serializers.JSONField(allow_null=True)


class BuilderSerializer(serializers.Serializer):
    key = serializers.CharField()
    label = serializers.CharField()
    resource_types = serializers.ListField(child=serializers.CharField())
    provider_classes = serializers.ListField(
        child=serializers.CharField(), help_text="Empty: every provider class of those types."
    )
    properties = PropertySpecSerializer(many=True)
    credential_access = serializers.CharField(
        help_text="The access level of a new consumer's logins of its own.")


def describe_builder(builder: type[ConsumerBuilder]) -> dict[str, Any]:
    return {
        "key": builder.key,
        "label": builder.label,
        "resource_types": sorted(builder.resource_types),
        "provider_classes": sorted(builder.provider_classes),
        "properties": [
            {"name": name, "description": spec.description, "required": spec.required,
             "secret": spec.secret, "kind": spec.kind, "default": spec.default}
            for name, spec in builder.properties.items()
        ],
        "credential_access": str(builder.credential_access),
    }


# --- views ----------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(parameters=[SCOPE_HEADER], summary="Consumers of this scope"),
    retrieve=extend_schema(parameters=[SCOPE_HEADER], summary="A consumer"),
    create=extend_schema(
        parameters=[SCOPE_HEADER],
        request=ConsumerCreateSerializer,
        responses={201: ConsumerSerializer},
        summary="Register a consumer (it gets the scope's matching resources at once)",
    ),
    partial_update=extend_schema(
        parameters=[SCOPE_HEADER],
        request=ConsumerUpdateSerializer,
        responses={200: ConsumerSerializer},
        summary="Change a consumer",
    ),
    destroy=extend_schema(
        parameters=[SCOPE_HEADER], responses={204: None}, summary="Remove a consumer"
    ),
    sync=extend_schema(
        parameters=[SCOPE_HEADER],
        request=None,
        responses={202: SyncResultSerializer},
        summary="Deliver every matching resource of the scope to the consumer again",
    ),
    deliveries=extend_schema(
        parameters=[SCOPE_HEADER, OpenApiParameter(
            "status", str, enum=Delivery.Status.values,
            description="Only deliveries in this status.")],
        responses={200: DeliverySerializer(many=True)},
        summary="The consumer's deliveries, newest first: attempts, errors, next retry",
    ),
)
class ConsumerViewSet(
    ScopedViewMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = ConsumerSerializer
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    required_actions = {
        "list": Action.VIEW_CONSUMER,
        "retrieve": Action.VIEW_CONSUMER,
        "create": Action.MANAGE_CONSUMER,
        "partial_update": Action.MANAGE_CONSUMER,
        "destroy": Action.MANAGE_CONSUMER,
        "sync": Action.MANAGE_CONSUMER,
        "deliveries": Action.VIEW_CONSUMER,
        "metadata": Action.VIEW_CONSUMER,
    }

    def get_queryset(self) -> QuerySet[Consumer]:
        return services.consumers_of(self.principal, self.scope)

    def get_object(self) -> Consumer:
        return services.get_consumer(self.principal, self.scope, self.kwargs["pk"])

    def create(self, request: Request, *args, **kwargs) -> Response:
        data = self._valid(ConsumerCreateSerializer, request.data)
        consumer = services.create_consumer(self.principal, self.scope, **data)
        return self._render(consumer, status.HTTP_201_CREATED)

    def partial_update(self, request: Request, *args, **kwargs) -> Response:
        data = self._valid(ConsumerUpdateSerializer, request.data)
        consumer = services.update_consumer(self.principal, self.get_object(), **data)
        return self._render(consumer, status.HTTP_200_OK)

    def destroy(self, request: Request, *args, **kwargs) -> Response:
        services.delete_consumer(self.principal, self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @action(detail=True, methods=["post"])
    def sync(self, request: Request, *args, **kwargs) -> Response:
        queued = services.sync(self.principal, self.get_object())
        consumer = self.get_object()
        return Response(
            SyncResultSerializer({"queued": queued, "consumer": consumer}).data,
            status=status.HTTP_202_ACCEPTED,
        )

    @action(detail=True, methods=["get"])
    def deliveries(self, request: Request, *args, **kwargs) -> Response:
        found = services.deliveries_of(self.get_object(), request.query_params.get("status"))
        page = self.paginate_queryset(found)
        return self.get_paginated_response(DeliverySerializer(page, many=True).data)

    @staticmethod
    def _valid(serializer_class: type[serializers.Serializer], data: Any) -> dict:
        serializer = serializer_class(data=data)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)

    def _render(self, consumer: Consumer, code: int) -> Response:
        """As it is now, with its delivery status (deliveries may have run in-process)."""
        fresh = services.get_consumer(self.principal, self.scope, consumer.pk)
        return Response(ConsumerSerializer(fresh).data, status=code)


@extend_schema_view(
    list=extend_schema(
        parameters=[SCOPE_HEADER],
        responses={200: BuilderSerializer(many=True)},
        summary="Builder types, their properties and the resource types they handle",
    ),
)
class BuilderViewSet(ScopedViewMixin, viewsets.ViewSet):
    required_actions = {"list": Action.VIEW_PROVIDER, "metadata": Action.VIEW_PROVIDER}

    def list(self, request: Request, *args, **kwargs) -> Response:
        builders = [describe_builder(builder) for builder in BUILDERS.values()]
        return Response(BuilderSerializer(builders, many=True).data)
