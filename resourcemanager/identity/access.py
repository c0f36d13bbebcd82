"""The principal of a Django user: its local memberships (``ScopeRole``) and the roles
its identity provider grants, read against the access rules of ``resourcemanager.identity.roles``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from resourcemanager.identity.models import ScopeRole
from resourcemanager.identity.roles import Principal, Role, scope_exists

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser


def principal_for(
    user: AbstractBaseUser | AnonymousUser | None,
    claim_roles: Mapping[str, Iterable[str]] | None = None,
    local_roles: Iterable[tuple[str, str]] | None = None,
) -> Principal | None:
    """The principal of a Django user, or None when not authenticated.

    Roles are the user's local memberships (read, unless ``local_roles`` gives them as
    read with the user) plus ``claim_roles`` from the identity provider.
    """
    if user is None or not user.is_authenticated or not user.is_active:
        return None
    roles: dict[str, set[Role]] = {}
    local = (ScopeRole.objects.filter(user=user).values_list("scope", "role")
             if local_roles is None else local_roles)
    claimed = [(scope, role) for scope, names in (claim_roles or {}).items() for role in names]
    for scope, role in [*local, *claimed]:
        if scope_exists(scope):
            roles.setdefault(scope, set()).add(Role(role))
    return Principal(
        name=user.get_username(),
        user_id=user.pk,
        is_operator=user.is_superuser,
        roles={scope: frozenset(found) for scope, found in roles.items()},
    )

