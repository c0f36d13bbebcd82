"""Fixtures of the audit-trail tests: a signing key, a trail, the verifier's verdict."""

from __future__ import annotations

from collections.abc import Callable
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from audit.models import AuditEntry
from audit.services import record
from audit.signing import new_private_key


@pytest.fixture
def signing_key(settings) -> str:
    settings.RM_AUDIT_SIGNING_KEY = new_private_key()
    settings.RM_AUDIT_VERIFY_KEY = []
    return settings.RM_AUDIT_SIGNING_KEY


@pytest.fixture
def trail(committing_db) -> Callable[[int], list[AuditEntry]]:
    """``trail(n)``: n more entries, recorded and sealed as the app records them."""
    def make(count: int, *, scope: str = "team-a") -> list[AuditEntry]:
        made = [record("alice", "resource.update", AuditEntry.Outcome.SUCCESS, scope=scope,
                       message=f"entry {n}") for n in range(count)]
        return list(AuditEntry.objects.filter(pk__in=[e.pk for e in made]).order_by("seq"))
    return make


def verify_audit() -> tuple[int, str, str]:
    """``manage.py verify_audit``: its exit status, stdout and stderr."""
    out, err = StringIO(), StringIO()
    try:
        call_command("verify_audit", stdout=out, stderr=err)
    except CommandError as exc:
        return exc.returncode, out.getvalue(), err.getvalue() + str(exc)
    return 0, out.getvalue(), err.getvalue()


def sql(statement: str, *params: object) -> None:
    """Change the table behind the app's back, as someone with database access would."""
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def id_at(seq: int) -> int:
    return AuditEntry.objects.get(seq=seq).pk
