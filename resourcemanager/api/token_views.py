"""Personal API tokens of the signed-in user: list, issue (shown once), revoke."""

from django.conf import settings
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from resourcemanager.api.permissions import NamedScopeMembership
from resourcemanager.api.strict import StrictInput
from resourcemanager.identity.models import ApiToken
from resourcemanager.identity.tokens import issue_token, revoke_token


class ApiTokenSerializer(serializers.ModelSerializer):
    class Meta:
        model = ApiToken
        fields = ["id", "name", "hint", "created_at", "expires_at", "last_used_at", "revoked_at"]
        read_only_fields = fields


class IssuedTokenSerializer(ApiTokenSerializer):
    token = serializers.CharField(help_text="The token itself; shown this once only.")

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "token"]
        read_only_fields = fields


class IssueTokenSerializer(StrictInput, serializers.Serializer):
    name = serializers.CharField(max_length=100)
    expires_in_days = serializers.IntegerField(
        min_value=0,
        max_value=3650,
        required=False,
        help_text="0: never expires. Default: RM_API_TOKEN_DEFAULT_DAYS.",
    )


@extend_schema_view(
    list=extend_schema(summary="My API tokens (never the tokens themselves)"),
    create=extend_schema(
        summary="Issue an API token; the response is the only time it is shown",
        request=IssueTokenSerializer,
        responses={201: IssuedTokenSerializer},
    ),
    destroy=extend_schema(summary="Revoke one of my API tokens", responses={204: None}),
)
class ApiTokenViewSet(
    mixins.ListModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    """Tokens belong to a user, not to a scope: every URL form serves the caller's own, and
    naming a scope where the caller holds no role is refused like any request there."""

    permission_classes = (IsAuthenticated, NamedScopeMembership)
    serializer_class = ApiTokenSerializer
    pagination_class = None

    def get_queryset(self) -> QuerySet[ApiToken]:
        if getattr(self, "swagger_fake_view", False):  # schema generation: no user
            return ApiToken.objects.none()
        return ApiToken.objects.filter(user=self.request.user).order_by("-created_at")

    def create(self, request: Request, *args, **kwargs) -> Response:
        serializer = IssueTokenSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        days = serializer.validated_data.get(
            "expires_in_days", settings.RM_API_TOKEN_DEFAULT_DAYS
        )
        token, plaintext = issue_token(
            request.user, serializer.validated_data["name"], expires_in_days=days or None
        )
        token.token = plaintext
        return Response(IssuedTokenSerializer(token).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance: ApiToken) -> None:
        revoke_token(self.request.user.get_username(), instance)
