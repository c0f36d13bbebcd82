from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerView,
)

from config import health, views
from config.metrics import metrics_view
from resourcemanager.api.auth_views import CurrentUserView
from resourcemanager.api.transfer_views import ExportLinkView
from resourcemanager.identity.oidc_login import CallbackView, LoginView, LogoutView

api_routes = ("config.api_urls", "api")

auth_routes = [
    path("login", LoginView.as_view(), name="auth-login"),
    path("callback", CallbackView.as_view(), name="auth-callback"),
    path("logout", LogoutView.as_view(), name="auth-logout"),
    path("user", CurrentUserView.as_view(), name="auth-user"),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", health.live, name="health-live"),
    path("readyz", health.ready, name="health-ready"),
    path("metrics", metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    path("api/auth/", include(auth_routes)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path(
        "api/docs/",
        SpectacularSwaggerView.as_view(url_name="schema", http_method_names=["get", "head"]),
        name="docs",
    ),
    path(
        "api/redoc/",
        SpectacularRedocView.as_view(url_name="schema", http_method_names=["get", "head"]),
        name="redoc",
    ),
    path("api/exports/", ExportLinkView.as_view(), name="export-link"),
    path("api/c/<str:scope>/", include(api_routes, namespace="api-scoped")),
    path("api/", include(api_routes, namespace="api")),
]
