"""Serializers only parse input and render output; the service decides and changes."""

from rest_framework import serializers

from providers.models import Provider
from resourcemanager.models import Resource


class LastCheckSerializer(serializers.Serializer):
    at = serializers.DateTimeField(source="last_check_at", allow_null=True)
    ok = serializers.BooleanField(source="last_check_ok", allow_null=True)
    message = serializers.CharField(source="last_check_message")


class ResourceSerializer(serializers.ModelSerializer):
    provider = serializers.SlugRelatedField(slug_field="key", read_only=True)
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
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class CredentialsSerializer(serializers.Serializer):
    username = serializers.CharField()
    password = serializers.CharField()
    host = serializers.CharField()
    port = serializers.IntegerField()
    database = serializers.CharField()
    uri = serializers.CharField()


class ResourceDetailSerializer(ResourceSerializer):
    """One resource, with its credentials (never shown in lists)."""

    credentials = CredentialsSerializer(read_only=True, allow_null=True)

    class Meta(ResourceSerializer.Meta):
        fields = [*ResourceSerializer.Meta.fields, "credentials"]
        read_only_fields = fields


PROVIDER_HELP = (
    "Key of a provider instance (see /providers), or a provider class such as 'postgresql' "
    "for its default instance."
)


class ResourceCreateSerializer(serializers.Serializer):
    provider = serializers.CharField(help_text=PROVIDER_HELP)
    name = serializers.CharField(
        trim_whitespace=False, help_text="Your name for it, unique per provider and scope."
    )
    tags = serializers.ListField(child=serializers.CharField(), required=False)
    properties = serializers.DictField(required=False)


class ResourceAddSerializer(serializers.Serializer):
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


class ResourceUpdateSerializer(serializers.Serializer):
    tags = serializers.ListField(child=serializers.CharField(), required=False)
    properties = serializers.DictField(required=False)


class CheckRequestSerializer(serializers.Serializer):
    repair = serializers.BooleanField(default=True)


class ReachabilitySerializer(serializers.Serializer):
    ok = serializers.BooleanField(source="reachable", allow_null=True)
    message = serializers.CharField(source="reachability_message")
    checked_at = serializers.DateTimeField(source="reachability_checked_at", allow_null=True)


class ProviderSerializer(serializers.ModelSerializer):
    label = serializers.CharField(source="adapter_class.label")
    resource_type = serializers.CharField()
    reachability = ReachabilitySerializer(source="*", read_only=True)

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
        ]
        read_only_fields = fields
