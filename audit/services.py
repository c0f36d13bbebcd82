"""Recording audit entries. Callers pass only non-secret text."""

from __future__ import annotations

from django.db import models

from audit.models import AuditEntry
from resourcemanager.context import get_request_id, get_source_ip


def record(
    actor: str,
    action: str,
    outcome: str,
    *,
    scope: str = "",
    target: models.Model | None = None,
    message: str = "",
) -> AuditEntry:
    return AuditEntry.objects.create(
        actor=actor,
        scope=scope,
        action=action,
        outcome=outcome,
        target_type=target._meta.model_name if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        target_name=str(target) if target is not None else "",
        message=message,
        request_id=get_request_id(),
        source_ip=get_source_ip(),
    )
