"""API routes of every app; config.urls mounts them at /api/ and at /api/c/<scope>/."""

from django.urls import re_path
from rest_framework.routers import DefaultRouter

from audit.api import AuditExportView
from consumers.api import BuilderViewSet, ConsumerViewSet
from resourcemanager.api.auth_views import PermissionsView
from resourcemanager.api.backup_schedule_views import BackupScheduleView
from resourcemanager.api.backup_views import (
    BackupViewSet,
    CleanupViewSet,
    CloneViewSet,
    RestoreViewSet,
)
from resourcemanager.api.credential_views import CredentialViewSet
from resourcemanager.api.scope_views import (
    ResourceLimitView,
    ScopeQuotaView,
    ScopeSettingsView,
)
from resourcemanager.api.token_views import ApiTokenViewSet
from resourcemanager.api.transfer_views import ExportView, ImportView
from resourcemanager.api.views import ProviderViewSet, ResourceViewSet


class OptionalSlashRouter(DefaultRouter):
    """Routes answer with or without a trailing slash (the original API has none).

    No root view: it would answer every scope prefix without checking the scope; the
    routes are listed in the OpenAPI schema instead.
    """

    include_root_view = False

    def __init__(self) -> None:
        super().__init__()
        self.trailing_slash = "/?"


router = OptionalSlashRouter()
router.register("resources", ResourceViewSet, basename="resource")
router.register(
    r"resources/(?P<resource_pk>[^/.]+)/credentials", CredentialViewSet, basename="credential"
)
router.register(r"resources/(?P<resource_pk>[^/.]+)/backups", BackupViewSet, basename="backup")
router.register(
    r"resources/(?P<resource_pk>[^/.]+)/restores", RestoreViewSet, basename="restore"
)
router.register(
    r"resources/(?P<resource_pk>[^/.]+)/cleanups", CleanupViewSet, basename="cleanup"
)
router.register(r"resources/(?P<resource_pk>[^/.]+)/clones", CloneViewSet, basename="clone")
router.register("providers", ProviderViewSet, basename="provider")
router.register("tokens", ApiTokenViewSet, basename="token")
router.register("consumers", ConsumerViewSet, basename="consumer")
router.register("builders", BuilderViewSet, basename="builder")

urlpatterns = [
    re_path(r"^permissions/?$", PermissionsView.as_view(), name="permissions"),
    re_path(r"^settings/?$", ScopeSettingsView.as_view(), name="scope-settings"),
    re_path(r"^quota/?$", ScopeQuotaView.as_view(), name="scope-quota"),
    re_path(r"^resources/(?P<resource_pk>[^/.]+)/quota/?$", ResourceLimitView.as_view(),
            name="resource-quota"),
    re_path(r"^audit/export/?$", AuditExportView.as_view(), name="audit-export"),
    re_path(r"^resources/(?P<resource_pk>[^/.]+)/export/?$", ExportView.as_view(),
            name="resource-export"),
    re_path(r"^resources/(?P<resource_pk>[^/.]+)/import/?$", ImportView.as_view(),
            name="resource-import"),
    re_path(r"^resources/(?P<resource_pk>[^/.]+)/backup-schedule/?$",
            BackupScheduleView.as_view(), name="backup-schedule"),
    *router.urls,
]
