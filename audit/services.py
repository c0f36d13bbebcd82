"""Recording audit entries. Callers pass only non-secret text.

An entry is written inside the caller's transaction and chained right after it commits,
or at once when there is none (``audit.chain``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from django.core.cache import cache
from django.db import models

from audit.chain import append, append_many
from audit.models import AuditEntry
from resourcemanager.telemetry.context import get_request_id, get_source_ip


def record(
    actor: str,
    action: str,
    outcome: str,
    *,
    scope: str = "",
    target: models.Model | None = None,
    message: str = "",
) -> AuditEntry:
    return append(_fields(actor, action, outcome, scope, target, message))


def record_many(
    actor: str,
    action: str,
    outcomes: Iterable[tuple[str, str]],
    *,
    scope: str = "",
    target: models.Model | None = None,
) -> list[AuditEntry]:
    """One entry per (outcome, message) of ``outcomes``, of one action on one target, in
    one INSERT."""
    return append_many([_fields(actor, action, outcome, scope, target, message)
                        for outcome, message in outcomes])


def _fields(actor: str, action: str, outcome: str, scope: str,
            target: models.Model | None, message: str) -> dict[str, str | None]:
    return dict(
        actor=_storable(actor),
        scope=scope,
        action=action,
        outcome=outcome,
        target_type=target._meta.model_name if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        target_name=_storable(str(target)) if target is not None else "",
        message=_storable(message),
        request_id=get_request_id(),
        source_ip=get_source_ip(),
    )


def _storable(text: str) -> str:
    """``text`` as a text column takes it: PostgreSQL refuses NUL characters, which a
    request's path may carry."""
    return text.replace("\x00", "\ufffd")


#: At most one DENIED entry per actor, scope and action in this many seconds.
DENIED_INTERVAL = 60


def record_denied(actor: str, action: str, *, scope: str = "", message: str = "") -> bool:
    """Record a refusal, unless the same one was recorded within ``DENIED_INTERVAL``.

    The limit (kept in the cache) stops a flood of refused requests from flooding the
    trail. Returns whether an entry was written.
    """
    digest = hashlib.sha256(f"{actor}\0{scope}\0{action}".encode()).hexdigest()
    if not cache.add(f"rm:audit:denied:{digest}", True, DENIED_INTERVAL):
        return False
    record(actor[:150], action, AuditEntry.Outcome.DENIED, scope=scope, message=message)
    return True
