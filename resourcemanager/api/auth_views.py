"""Who am I: the caller's identity, scopes, roles and allowed actions."""

from django.conf import settings
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from resourcemanager.api.permissions import NamedScopeMembership
from resourcemanager.identity.models import ApiToken
from resourcemanager.identity.oidc import VerifiedToken
from resourcemanager.identity.principals import principal_of
from resourcemanager.identity.roles import MATRIX, Action, scope_exists


def _authenticated_by(request: Request) -> str:
    if isinstance(request.auth, ApiToken):
        return "api_token"
    if isinstance(request.auth, VerifiedToken):
        return "oidc_token"
    return "session"


class CurrentUserView(APIView):
    permission_classes = (IsAuthenticated,)

    @extend_schema(
        summary="The signed-in user",
        responses=inline_serializer(
            "CurrentUser",
            {
                "username": serializers.CharField(),
                "email": serializers.CharField(),
                "operator": serializers.BooleanField(),
                "authenticated_by": serializers.CharField(),
            },
        ),
    )
    def get(self, request: Request) -> Response:
        user = request.user
        return Response(
            {
                "username": user.get_username(),
                "email": user.email,
                "operator": user.is_superuser,
                "authenticated_by": _authenticated_by(request),
            }
        )


class PermissionsView(APIView):
    """Scopes the caller holds roles in, with the actions each scope allows.

    Under ``/api/c/<scope>/`` it answers only a caller holding a role in that scope.
    """

    permission_classes = (IsAuthenticated, NamedScopeMembership)

    @extend_schema(
        summary="My scopes, roles and allowed actions",
        responses=inline_serializer(
            "Permissions",
            {
                "username": serializers.CharField(),
                "operator": serializers.BooleanField(),
                "default_scope": serializers.CharField(),
                "scopes": serializers.ListField(child=serializers.DictField()),
            },
        ),
    )
    def get(self, request: Request, scope: str | None = None) -> Response:
        principal = principal_of(request)
        scopes = sorted(
            set(principal.roles) | ({*settings.RM_SCOPE_LIST} if principal.is_operator else set())
        )
        return Response(
            {
                "username": principal.name,
                "operator": principal.is_operator,
                "default_scope": settings.RM_DEFAULT_SCOPE,
                "scopes": [
                    {
                        "scope": name,
                        "roles": sorted(principal.roles_in(name)),
                        "actions": [a.value for a in MATRIX if principal.can(Action(a), name)],
                    }
                    for name in scopes
                    if scope_exists(name)
                ],
            }
        )
