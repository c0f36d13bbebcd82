import ipaddress
import logging

from django.apps import AppConfig
from django.conf import settings
from django.contrib.admin import apps as admin_apps

logger = logging.getLogger(__name__)


class ResourceManagerConfig(AppConfig):
    default = True
    name = "resourcemanager"
    verbose_name = "Resources"

    def ready(self) -> None:
        # Django's place for connecting receivers: the services need the models loaded.
        from resourcemanager.backups.services import forget_scope
        from resourcemanager.erasure.deletion import scope_deleting

        scope_deleting.connect(forget_scope, dispatch_uid="resourcemanager.backups.forget_scope")
        if settings.DEBUG and (loopback := _allowed_loopback()):
            logger.warning(
                "DEBUG: consumer requests (webhooks, tools) may reach this machine (%s in "
                "RM_CONSUMER_ALLOWED_NETWORKS); without DEBUG loopback is blocked unless "
                "that setting allows it", ", ".join(loopback),
            )


_LOOPBACK = {4: ipaddress.ip_network("127.0.0.0/8"), 6: ipaddress.ip_network("::1/128")}


def _allowed_loopback() -> list[str]:
    """The allowed consumer networks that hold loopback addresses."""
    networks = (ipaddress.ip_network(item.strip(), strict=False)
                for item in settings.RM_CONSUMER_ALLOWED_NETWORKS if item.strip())
    return [str(network) for network in networks if network.overlaps(_LOOPBACK[network.version])]


class AdminConfig(admin_apps.AdminConfig):
    """The Django admin, open to every user holding a role (see adminsite.py)."""

    default = False
    default_site = "resourcemanager.ui.adminsite.ResourceManagerAdminSite"
