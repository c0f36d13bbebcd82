from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class ResourceManagerConfig(AppConfig):
    default = True
    name = "resourcemanager"
    verbose_name = "Resources"


class AdminConfig(admin_apps.AdminConfig):
    """The Django admin, open to every user holding a role (see adminsite.py)."""

    default = False
    default_site = "resourcemanager.ui.adminsite.ResourceManagerAdminSite"
