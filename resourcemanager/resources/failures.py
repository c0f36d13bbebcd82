"""Backend failures as tenants see them, and as operators do.

A provider's failure message names the server (host and port), its admin account and
what the server said: detail for operators, kept as it is in ``status_message``,
``last_check_message`` and ``reachability_message`` and in the logs. Tenants get, for a
message naming the shared server, a neutral sentence from the kind of failure and a
reference, e.g. "the PostgreSQL server could not be reached (ref 3f9a1c2e)"; the log
line of the failure carries the detail and the same reference, so an operator finds one
from the other.

The reference is an HMAC of the detail under ``SECRET_KEY``: the same failure gives the
same reference wherever it is shown, and it reveals nothing of the detail.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re

from django.conf import settings

from providers.models import Provider
from resourcemanager.resources.models import Resource

logger = logging.getLogger(__name__)

#: What an operation still being retried is prefixed with (``services``).
RETRYING = "retrying: "
#: How the adapters begin a message of a server that could not be connected to.
_UNREACHABLE_MARK = "cannot reach "


def reference(detail: str) -> str:
    """The correlation id of a failure's detail: 8 hex digits."""
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, detail.encode(), hashlib.sha256).hexdigest()[:8]


def log_failure(what: str, detail: str) -> str:
    """Log ``what`` failed with its detail and reference (a warning); returns ``detail``."""
    logger.warning("%s (ref %s): %s", what, reference(detail), detail)
    return detail


def names_the_server(detail: str, provider: Provider) -> bool:
    """Whether ``detail`` names the shared server: its host or its admin account."""
    return any(
        re.search(rf"(?<![\w.-]){re.escape(value)}(?![\w-])", detail)
        for value in (provider.host, provider.username) if value
    )


def tenant_message(detail: str, provider: Provider) -> str:
    """``detail`` as a tenant may read it: unchanged unless it names the shared server (a
    resource's own finding, such as a dropped database, is the tenant's to read); then a
    neutral sentence from the kind of failure, with the reference of the detail."""
    if not detail or not names_the_server(detail, provider):
        return detail
    prefix = RETRYING if detail.startswith(RETRYING) else ""
    cause = detail.removeprefix(prefix)
    server = provider.adapter_class.label
    if cause.startswith(_UNREACHABLE_MARK):
        what = f"the {server} server could not be reached"
    else:
        what = f"the {server} server could not complete the operation"
    return f"{prefix}{what} (ref {reference(cause)})"


def status_shown(resource: Resource, *, operator: bool) -> str:
    """The resource's status message as ``operator`` or a tenant may read it."""
    if operator:
        return resource.status_message
    return tenant_message(resource.status_message, resource.provider)


def check_shown(resource: Resource, *, operator: bool) -> str:
    """The last check's message as ``operator`` or a tenant may read it."""
    if operator:
        return resource.last_check_message
    return tenant_message(resource.last_check_message, resource.provider)


def reachability_shown(provider: Provider, *, operator: bool) -> str:
    """Why the instance's last connection test failed, as ``operator`` or a tenant may
    read it."""
    if operator:
        return provider.reachability_message
    return tenant_message(provider.reachability_message, provider)
