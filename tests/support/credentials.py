"""Credentials as tests count them."""

from __future__ import annotations

from django.db.models import QuerySet

from resourcemanager.resources.models import OWNER_HOLDER, Credential


def issued_credentials() -> QuerySet[Credential]:
    """Those issued for a holder: all but the resources' owner credentials."""
    return Credential.objects.exclude(holder=OWNER_HOLDER)
