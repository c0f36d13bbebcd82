"""Querysets of scoped rows, narrowed by the access rules (``resourcemanager.identity.roles``).

The scoped models use ``ScopedQuerySet``; it reads no models itself.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from resourcemanager.identity.roles import Action, Principal


class ScopedQuerySet(models.QuerySet):
    """Querysets of scoped rows. ``visible_to`` is the one way to narrow them by access."""

    def visible_to(
        self, principal: Principal | None, action: Action, scope: str | None = None
    ) -> ScopedQuerySet:
        """Rows of ``scope`` (or of every scope) on which ``principal`` may do ``action``.

        Fails closed: no principal, or no role allowing the action, gives ``none()``.
        """
        if principal is None:
            return self.none()
        if scope is not None:
            return self.filter(scope=scope) if principal.can(action, scope) else self.none()
        if principal.is_operator:
            return self._in_known_scopes()
        return self.filter(scope__in=principal.scopes_for(action))

    def with_id(self, object_id: object) -> models.Model | None:
        """The row whose UUID key is ``object_id`` (text or not), or None, malformed ids
        included: a caller answers "no such ..." either way."""
        try:
            return self.filter(pk=uuid.UUID(str(object_id))).first()
        except ValueError:
            return None

    def _in_known_scopes(self) -> ScopedQuerySet:
        if settings.RM_SCOPE_LIST:
            return self.filter(scope__in=settings.RM_SCOPE_LIST)
        return self.all()

