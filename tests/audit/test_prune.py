"""Pruning: old entries go, the rest still verifies from a checkpoint at the cut."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from audit.models import AuditCheckpoint, AuditEntry
from tests.audit.conftest import sql, verify_audit


def prune_audit(*args: str) -> str:
    out = StringIO()
    call_command("prune_audit", *args, stdout=out)
    return out.getvalue()


def test_prune_keeps_the_rest_verifiable(trail, signing_key):
    trail(3)
    cutoff = timezone.now()
    trail(3)

    said = prune_audit("--before", cutoff.isoformat())

    checkpoint = AuditCheckpoint.objects.get(reason="prune")
    assert said.strip() == (f"3 audit entries deleted, up to #3; checkpoint {checkpoint.pk} "
                            "anchors the rest")
    assert list(AuditEntry.objects.order_by("seq").values_list("seq", flat=True)) == [
        4, 5, 6, 7]
    assert checkpoint.seq == 3 and checkpoint.signature
    pruned = AuditEntry.objects.get(seq=7)
    assert (pruned.action, pruned.actor) == ("audit.prune", "system")
    status, out, err = verify_audit()
    assert status == 0, err
    assert "intact: 4 entries" in out and "newest sealed #7" in out


def test_every_entry_may_go(trail, signing_key):
    trail(3)

    prune_audit("--keep-days", "0")

    assert list(AuditEntry.objects.values_list("seq", flat=True)) == [4]
    assert verify_audit()[0] == 0


def test_entries_deleted_other_than_by_prune_are_named(trail, signing_key):
    trail(3)
    cutoff = timezone.now()
    trail(2)
    prune_audit("--before", cutoff.isoformat())
    sql("DELETE FROM audit_auditentry WHERE seq = 4")

    status, _, err = verify_audit()

    assert status == 1
    assert ("entries #1 to #4 are missing and no checkpoint anchors the oldest entry #5"
            in err)


def test_a_forged_anchor_is_named(trail, signing_key):
    trail(3)
    cutoff = timezone.now()
    trail(2)
    prune_audit("--before", cutoff.isoformat())
    sql("UPDATE audit_auditcheckpoint SET head_hash = %s", "1" * 64)

    status, _, err = verify_audit()

    assert status == 1
    assert "its signature does not verify" in err


def test_a_broken_trail_is_not_pruned(trail, signing_key):
    trail(3)
    sql("UPDATE audit_auditentry SET actor = 'nobody' WHERE seq = 2")

    with pytest.raises(CommandError, match=r"does not verify: entry #2 .* was altered"):
        prune_audit("--keep-days", "0")
    assert AuditEntry.objects.count() == 3


def test_nothing_older_deletes_nothing(trail):
    trail(2)
    assert prune_audit("--before", "2000-01-01").startswith("no audit entry older than")
    assert AuditEntry.objects.count() == 2


@pytest.mark.parametrize("before", ["yesterday", "2026-13-45"])
def test_a_bad_date_is_refused(trail, before):
    with pytest.raises(CommandError, match="--before takes a date"):
        prune_audit("--before", before)
