"""Serializers only parse input and render output; the service decides and changes."""

import copy
from typing import Any, ClassVar

from rest_framework import serializers

from providers.adapters.properties import KINDS, PropertySpec
from providers.models import Provider
from resourcemanager.api.strict import StrictInput
from resourcemanager.resources import failures
from resourcemanager.resources.models import Resource

FAILURE_HELP = (
    "On failure, a neutral sentence with a reference (ref …); the server's own detail is "
    "for operators (admin, logs)."
)


#: Fields bound to fields of their own (nested serializers, lists, mappings).
_HOLDING_FIELDS = (serializers.BaseSerializer, serializers.ListField, serializers.DictField)


class FieldsWorkedOutOnce:
    """For serializers that render rows: the fields DRF works out (from the model) on every
    instance are the same for every instance of a class. They are worked out once per class
    and copied for each instance: a plain field by a shallow copy, which binding to the
    instance changes alone (DRF's deep copy builds it anew from its arguments); one holding
    fields of its own as DRF copies it."""

    _worked_out: ClassVar[dict[type, dict[str, serializers.Field]]] = {}

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = self._worked_out.get(type(self))
        if fields is None:
            fields = self._worked_out[type(self)] = super().get_fields()
        return {name: copy.deepcopy(field) if isinstance(field, _HOLDING_FIELDS)
                else copy.copy(field) for name, field in fields.items()}


class LastCheckSerializer(FieldsWorkedOutOnce, serializers.Serializer):
    at = serializers.DateTimeField(source="last_check_at", allow_null=True)
    ok = serializers.BooleanField(source="last_check_ok", allow_null=True)
    message = serializers.SerializerMethodField(help_text=FAILURE_HELP)

    def get_message(self, resource: Resource) -> str:
        return failures.check_shown(resource, operator=False)


class ResourceSerializer(FieldsWorkedOutOnce, serializers.ModelSerializer):
    provider = serializers.SlugRelatedField(slug_field="key", read_only=True)
    status_message = serializers.SerializerMethodField(help_text=FAILURE_HELP)
    last_check = LastCheckSerializer(source="*", read_only=True)

    class Meta:
        model = Resource
        fields = [
            "id",
            "scope",
            "provider",
            "type",
            "name",
            "managed",
            "status",
            "status_message",
            "tags",
            "properties",
            "last_check",
            "size",
            "size_objects",
            "size_measured_at",
            "max_bytes",
            "frozen",
            "frozen_reason",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_status_message(self, resource: Resource) -> str:
        return failures.status_shown(resource, operator=False)


class CredentialsSerializer(FieldsWorkedOutOnce, serializers.Serializer):
    username = serializers.CharField()
    password = serializers.CharField()
    host = serializers.CharField()
    port = serializers.IntegerField()
    database = serializers.CharField()
    uri = serializers.CharField()


class ConnectionSerializer(FieldsWorkedOutOnce, serializers.Serializer):
    """Where and as whom to connect, without the secret."""

    username = serializers.CharField()
    host = serializers.CharField()
    port = serializers.IntegerField()
    database = serializers.CharField()


class ResourceDetailSerializer(ResourceSerializer):
    """One resource, with its connection (never its secret: see ``reveal``)."""

    connection = ConnectionSerializer(source="credentials", read_only=True, allow_null=True)

    class Meta(ResourceSerializer.Meta):
        fields = [*ResourceSerializer.Meta.fields, "connection"]
        read_only_fields = fields


class ResourceWithSecretSerializer(ResourceDetailSerializer):
    """One resource with its owner credentials: in the answer that created or registered
    it, and in a reveal."""

    credentials = CredentialsSerializer(read_only=True, allow_null=True)

    class Meta(ResourceDetailSerializer.Meta):
        fields = [*ResourceDetailSerializer.Meta.fields, "credentials"]
        read_only_fields = fields


PROVIDER_HELP = (
    "Key of a provider instance (see /providers), or a provider class such as 'postgresql' "
    "for its default instance."
)


class ResourceCreateSerializer(StrictInput, serializers.Serializer):
    provider = serializers.CharField(help_text=PROVIDER_HELP)
    name = serializers.CharField(
        trim_whitespace=False, help_text="Your name for it, unique per provider and scope."
    )
    tags = serializers.ListField(child=serializers.CharField(), required=False)
    properties = serializers.DictField(
        required=False, help_text="What the provider declares in its `properties` (see "
        "/providers); omitted ones take their defaults."
    )
    from_backup = serializers.CharField(
        required=False, help_text="Id of a completed backup of the scope, of the provider's "
        "dump format, restored into the new resource once it is made (see its `clones`); "
        "if that fails, the new resource is deleted."
    )


class ResourceAddSerializer(StrictInput, serializers.Serializer):
    provider = serializers.CharField(help_text=PROVIDER_HELP)
    name = serializers.CharField(
        trim_whitespace=False, help_text="Your name for it, unique per provider and scope."
    )
    uri = serializers.CharField(
        trim_whitespace=False,
        help_text="Connection URI with its credentials, e.g. postgresql://user:pw@host:5432/db. "
        "Stored encrypted; never echoed in errors.",
    )
    tags = serializers.ListField(child=serializers.CharField(), required=False)


class ResourceUpdateSerializer(StrictInput, serializers.Serializer):
    tags = serializers.ListField(child=serializers.CharField(), required=False)
    properties = serializers.DictField(
        required=False, help_text="The properties to change; null restores a default. "
        "Properties not `updatable` keep their value."
    )


class CheckRequestSerializer(StrictInput, serializers.Serializer):
    repair = serializers.BooleanField(default=True)


class ReachabilitySerializer(serializers.Serializer):
    ok = serializers.BooleanField(source="reachable", allow_null=True)
    message = serializers.SerializerMethodField(help_text=FAILURE_HELP)
    checked_at = serializers.DateTimeField(source="reachability_checked_at", allow_null=True)

    def get_message(self, provider: Provider) -> str:
        return failures.reachability_shown(provider, operator=False)


class ResourcePropertySerializer(serializers.Serializer):
    """One property a resource of the provider takes (a ``PropertySpec``)."""

    kind = serializers.ChoiceField(choices=KINDS)
    description = serializers.CharField()
    default = serializers.JSONField(allow_null=True, help_text="Null: the backend's default.")
    required = serializers.BooleanField()
    updatable = serializers.BooleanField(help_text="Whether it may change after creation.")
    minimum = serializers.IntegerField(allow_null=True, help_text="Integers only.")
    maximum = serializers.IntegerField(allow_null=True, help_text="Integers only.")
    max_length = serializers.IntegerField(allow_null=True, help_text="Strings only.")
    choices = serializers.ListField(child=serializers.CharField(), help_text="Kind choice only.")

    def to_representation(self, instance: PropertySpec) -> dict[str, Any]:
        data = super().to_representation(instance)
        if instance.kind != "string":
            data["max_length"] = None
        return data


class ProviderSerializer(FieldsWorkedOutOnce, serializers.ModelSerializer):
    label = serializers.CharField(source="adapter_class.label")
    resource_type = serializers.CharField()
    reachability = ReachabilitySerializer(source="*", read_only=True)
    properties = serializers.DictField(
        child=ResourcePropertySerializer(),
        source="adapter_class.properties",
        read_only=True,
        help_text="What a resource of this provider takes in `properties`, by name.",
    )

    class Meta:
        model = Provider
        fields = [
            "key",
            "provider_class",
            "label",
            "resource_type",
            "description",
            "enabled",
            "is_default",
            "reachability",
            "properties",
        ]
        read_only_fields = fields
