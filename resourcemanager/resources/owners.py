"""The owner's credential: the resource's own login, listed and rotated like the others.

Every managed resource has one, held by ``resource:owner`` with owner access, whose secret
is the resource's credentials (what its reveal shows and CHECK logs in with); the two are
kept equal here. Its login is first the owner's own account, named like the resource. A
rotation hands the credentials to a new owner-level login, and once the grace is over the
adapter closes the owner's own account (``close_owner_login``), where the adapter rotates
owners (``owner_rotates``). It is never revoked on its own: it ends with the resource.
"""

from __future__ import annotations

from django.utils import timezone

from resourcemanager.core.fields import Sealed
from resourcemanager.resources.models import OWNER_HOLDER, Credential, Resource


def open_owner_credential(resource: Resource, actor: str, *, created_before: bool) -> None:
    """In the caller's transaction, after CREATE: the owner's credential is the owner's
    own account and its new secret. It is looked for only on a resource ``created_before``
    (one never created has none); after a re-create, a login that had taken over is
    dropped by the next sweep."""
    found = Credential.objects.select_for_update().filter(
        resource=resource, holder=OWNER_HOLDER).first() if created_before else None
    if found is None:
        Credential.objects.create(
            scope=resource.scope, resource=resource, holder=OWNER_HOLDER,
            access=Credential.Access.OWNER, login=resource.backend_name,
            secret=resource.credentials, status=Credential.Status.ACTIVE, issued_by=actor)
        return
    now = timezone.now()
    if found.login != resource.backend_name:
        found.retiring = [*found.retiring, {"login": found.login, "until": now.isoformat()}]
        found.retire_at = now
    found.login, found.secret = resource.backend_name, resource.credentials
    found.status, found.pending_secret, found.status_message = (
        Credential.Status.ACTIVE, None, "")
    found.save()


def follow_owner_secret(resource: Resource) -> None:
    """In the caller's transaction: the resource's credentials changed (a CHECK issued new
    ones); its owner's credential carries them too."""
    Credential.objects.filter(resource=resource, holder=OWNER_HOLDER).update(
        secret=Sealed(resource.scope, resource.credentials), updated_at=timezone.now())


def current_owner_login(resource: Resource) -> str | None:
    """The login that took over the owner's credentials by a rotation, or None while the
    owner's own account holds them."""
    login = (Credential.objects.filter(resource=resource, holder=OWNER_HOLDER)
             .values_list("login", flat=True).first())
    return login if login and login != resource.backend_name else None
