"""The hash chain: how entries are sealed, and that every kind of tampering with the table
(by SQL, as someone holding the database but not the signing key) is found and named."""

from __future__ import annotations

import hashlib
import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.core.signals import request_finished
from django.db import close_old_connections, transaction
from django.http import HttpResponse

from audit import chain, checkpoints
from audit.chain import CONTENT, GENESIS, entry_hash, seal
from audit.middleware import SealOncePerRequestMiddleware
from audit.models import AuditCheckpoint, AuditEntry
from audit.services import record
from audit.signing import new_private_key, public_key_text
from audit.tasks import seal as seal_task
from audit.tasks import sweep
from resourcemanager.telemetry.after_answer import AfterAnswerMiddleware
from tests.audit.conftest import id_at, sql, verify_audit

MANUAL = AuditCheckpoint.Reason.MANUAL


def test_entries_are_chained_with_the_documented_encoding(trail):
    entries = trail(3)

    assert [e.seq for e in entries] == [1, 2, 3]
    previous = GENESIS
    for entry in entries:
        document = {
            "seq": entry.seq, "prev_hash": previous,
            "timestamp": entry.timestamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "actor": "alice", "scope": "team-a", "action": "resource.update",
            "target_type": "", "target_id": "", "target_name": "", "outcome": "success",
            "message": entry.message, "request_id": "", "source_ip": None,
        }
        encoded = json.dumps(document, sort_keys=True, separators=(",", ":"),
                             ensure_ascii=False).encode()
        assert entry.prev_hash == previous
        assert entry.entry_hash == hashlib.sha256(encoded).hexdigest()
        previous = entry.entry_hash


def test_entries_are_sealed_when_their_transaction_commits_not_before(trail):
    with transaction.atomic():
        entry = record("alice", "resource.update", "success", scope="team-a")
        assert AuditEntry.objects.get(pk=entry.pk).seq is None
    assert AuditEntry.objects.get(pk=entry.pk).seq == 1


def test_a_process_seals_at_most_once_per_interval_and_the_sweep_takes_the_rest(
        trail, settings, monkeypatch):
    settings.RM_AUDIT_SEAL_INTERVAL = 60
    monkeypatch.setattr(chain, "_last_seal", [float("-inf")])  # no seal yet here
    first, second, third = (record("alice", "resource.update", "success", scope="team-a")
                            for _ in range(3))

    sealed = dict(AuditEntry.objects.values_list("pk", "seq"))
    assert (sealed[first.pk], sealed[second.pk], sealed[third.pk]) == (1, None, None)
    seal_task()
    assert list(AuditEntry.objects.order_by("seq").values_list("pk", flat=True)) == [
        first.pk, second.pk, third.pk]
    assert verify_audit()[0] == 0


def counted_seals(monkeypatch) -> list[int]:
    """How many entries each seal of this process sealed, from now on."""
    sealed: list[int] = []
    real = chain.seal

    def counting(**options) -> int:
        sealed.append(real(**options))
        return sealed[-1]
    monkeypatch.setattr(chain, "seal", counting)
    return sealed


def test_commits_inside_seals_waiting_are_sealed_together_by_its_caller(trail, monkeypatch):
    seals = counted_seals(monkeypatch)
    with chain.seals_waiting() as waiting:
        first = record("alice", "resource.update", "success", scope="team-a")
        with transaction.atomic():
            second = record("alice", "resource.update", "success", scope="team-a")
        assert not AuditEntry.objects.filter(seq__isnull=False).exists()
    chain.seal_if_waiting(waiting)

    assert seals == [2]
    assert list(AuditEntry.objects.order_by("seq").values_list("pk", flat=True)) == [
        first.pk, second.pk]
    assert verify_audit()[0] == 0


def test_a_request_whose_operation_runs_in_process_seals_once(
        make_client, memory_provider, monkeypatch):
    client = make_client(team_a="RESOURCE_ADMIN")
    seals = counted_seals(monkeypatch)

    answer = client.post("/api/c/team-a/resources", {"provider": memory_provider.key,
                                                    "name": "orders"}, format="json")

    assert answer.status_code == 201, answer.content
    assert answer.json()["status"] == "ready"  # its run, its outcome, its event: in-process
    assert len(seals) == 1 and seals[0] >= 2
    assert not AuditEntry.objects.filter(seq__isnull=True).exists()


def test_a_request_seals_after_its_answer_is_delivered_not_before(trail, rf):
    written: list[AuditEntry] = []

    def view(request):
        written.append(record("alice", "resource.update", "success", scope="team-a"))
        return HttpResponse("done")

    response = AfterAnswerMiddleware(SealOncePerRequestMiddleware(view))(rf.get("/"))

    entry = AuditEntry.objects.filter(pk=written[0].pk)
    assert entry.get().seq is None  # answered: the client waits no longer
    request_finished.disconnect(close_old_connections)  # as the test client does
    try:
        response.close()  # the server has delivered it
    finally:
        request_finished.connect(close_old_connections)
    assert entry.get().seq is not None
    assert verify_audit()[0] == 0


def test_an_entry_rolled_back_with_its_transaction_leaves_no_gap(trail):
    trail(1)
    with pytest.raises(RuntimeError), transaction.atomic():
        record("alice", "resource.update", "success", scope="team-a")
        raise RuntimeError("the caller failed")
    trail(1)

    assert list(AuditEntry.objects.order_by("seq").values_list("seq", flat=True)) == [1, 2]
    assert verify_audit()[0] == 0


def test_an_entry_its_process_never_sealed_is_sealed_by_the_sweep(trail, signing_key):
    trail(2)
    AuditEntry.objects.create(actor="bob", action="resource.create", outcome="accepted")

    sweep()

    assert not AuditEntry.objects.filter(seq__isnull=True).exists()
    checkpoint = AuditCheckpoint.objects.get()
    assert (checkpoint.seq, checkpoint.reason) == (3, "periodic")
    assert checkpoint.signature
    sweep()  # the head did not move: no second checkpoint
    assert AuditCheckpoint.objects.count() == 1


def test_an_intact_trail_verifies_in_one_line(trail, signing_key):
    trail(4)
    checkpoints.write(MANUAL)
    trail(2)

    status, out, err = verify_audit()

    assert status == 0, err
    assert out.strip() == "audit trail intact: 6 entries, 1 checkpoints, newest sealed #6"
    assert err == ""


def test_an_altered_message_is_named(trail, signing_key):
    trail(5)
    sql("UPDATE audit_auditentry SET message = 'nothing happened' WHERE seq = 3")

    status, _, err = verify_audit()

    assert status == 1
    assert f"entry #3 (id {id_at(3)}) was altered" in err


def test_a_deleted_entry_in_the_middle_is_named(trail, signing_key):
    trail(5)
    sql("DELETE FROM audit_auditentry WHERE seq = 3")

    status, _, err = verify_audit()

    assert status == 1
    assert "entry #3 is missing: the chain goes from #2 to #4" in err


def test_a_forged_entry_inserted_with_its_own_correct_hash_is_named(trail, signing_key):
    """The forger renumbers the entries after #3 and chains a forged #4 to #3 correctly:
    the old #4, now #5, no longer links to what precedes it."""
    entries = trail(5)
    sql("UPDATE audit_auditentry SET seq = seq + 1000 WHERE seq > 3")
    sql("UPDATE audit_auditentry SET seq = seq - 999 WHERE seq > 1000")
    sql("INSERT INTO audit_auditentry (timestamp, actor, scope, action, target_type, target_id, "
        "target_name, outcome, message, request_id, seq, prev_hash, entry_hash) VALUES "
        "(%s, 'mallory', 'team-a', 'resource.delete', '', '', '', 'success', '', '', 4, %s, "
        "%s)", entries[2].timestamp, entries[2].entry_hash, "f" * 64)

    status, _, err = verify_audit()

    assert status == 1
    assert "entry #4" in err and "was altered" in err
    sql("UPDATE audit_auditentry SET entry_hash = %s WHERE seq = 4", _rehash(4))
    status, _, err = verify_audit()
    assert status == 1
    assert f"entry #5 (id {entries[3].pk}) does not link to entry #4" in err


def test_swapped_timestamps_are_named(trail, signing_key):
    entries = trail(4)
    sql("UPDATE audit_auditentry SET timestamp = %s WHERE seq = 2", entries[2].timestamp)
    sql("UPDATE audit_auditentry SET timestamp = %s WHERE seq = 3", entries[1].timestamp)

    status, _, err = verify_audit()

    assert status == 1
    assert f"entry #2 (id {entries[1].pk}) was altered" in err


def test_reordered_entries_are_named(trail, signing_key):
    entries = trail(4)
    sql("UPDATE audit_auditentry SET seq = 1002 WHERE seq = 2")
    sql("UPDATE audit_auditentry SET seq = 2 WHERE seq = 3")
    sql("UPDATE audit_auditentry SET seq = 3 WHERE seq = 1002")

    status, _, err = verify_audit()

    assert status == 1
    assert f"entry #2 (id {entries[2].pk}) does not link to entry #1" in err


def test_a_chain_rewritten_with_every_hash_recomputed_misses_its_checkpoint(
        trail, signing_key):
    trail(4)
    checkpoint = checkpoints.write(MANUAL)
    sql("UPDATE audit_auditentry SET message = 'rewritten' WHERE seq = 2")
    for seq in range(2, 5):  # what an attacker without the signing key can redo
        sql("UPDATE audit_auditentry SET prev_hash = %s WHERE seq = %s",
            AuditEntry.objects.get(seq=seq - 1).entry_hash, seq)
        sql("UPDATE audit_auditentry SET entry_hash = %s WHERE seq = %s", _rehash(seq), seq)

    status, _, err = verify_audit()

    assert status == 1
    assert (f"entry #4 (id {id_at(4)}) does not match checkpoint {checkpoint.pk}"
            in err)


def test_newest_entries_cut_off_after_a_checkpoint_are_named(trail, signing_key):
    trail(6)
    checkpoint = checkpoints.write(MANUAL)
    sql("DELETE FROM audit_auditentry WHERE seq > 4")
    sql("UPDATE audit_chainhead SET seq = 4")  # even with the head moved back

    status, _, err = verify_audit()

    assert status == 1
    assert (f"the chain ends at entry #4, but checkpoint {checkpoint.pk}" in err
            and "names entry #6: the newest entries were removed" in err)


def test_newest_entries_cut_off_before_any_checkpoint_are_named_by_the_head(trail):
    trail(6)
    sql("DELETE FROM audit_auditentry WHERE seq > 4")

    status, _, err = verify_audit()

    assert status == 1
    assert "the chain ends at entry #4, but its head was at #6" in err


def test_a_tampered_checkpoint_signature_is_named(trail, signing_key):
    trail(3)
    checkpoint = checkpoints.write(MANUAL)
    flipped = ("B" if checkpoint.signature[0] == "A" else "A") + checkpoint.signature[1:]
    sql("UPDATE audit_auditcheckpoint SET signature = %s WHERE id = %s", flipped,
        checkpoint.pk)

    status, _, err = verify_audit()

    assert status == 1
    assert f"checkpoint {checkpoint.pk} (entry #3" in err
    assert "its signature does not verify" in err


def test_a_checkpoint_moved_to_a_rewritten_head_is_named(trail, signing_key):
    """Rewriting the chain and the checkpoint's hash along with it breaks its signature."""
    trail(3)
    checkpoint = checkpoints.write(MANUAL)
    sql("UPDATE audit_auditcheckpoint SET head_hash = %s WHERE id = %s", "0" * 64,
        checkpoint.pk)

    status, _, err = verify_audit()

    assert status == 1
    assert "its signature does not verify" in err


def test_the_public_key_alone_verifies(trail, signing_key, settings):
    trail(3)
    checkpoints.write(MANUAL)
    settings.RM_AUDIT_SIGNING_KEY = ""
    settings.RM_AUDIT_VERIFY_KEY = [public_key_text(signing_key)]
    assert verify_audit()[0] == 0

    settings.RM_AUDIT_VERIFY_KEY = [public_key_text(new_private_key())]
    status, _, err = verify_audit()
    assert status == 1
    assert "which is not among RM_AUDIT_VERIFY_KEY" in err


def test_without_a_signing_key_the_chain_works_and_verify_warns(trail, settings):
    settings.RM_AUDIT_SIGNING_KEY = ""
    trail(3)
    checkpoint = checkpoints.write(MANUAL)

    status, out, err = verify_audit()

    assert checkpoint.signature == ""
    assert status == 0
    assert "intact: 3 entries, 1 checkpoints" in out
    assert "warning: 1 of 1 checkpoints are not signed" in err


def test_updates_and_deletes_through_the_models_are_still_refused(trail):
    (entry,) = trail(1)
    with pytest.raises(ValueError, match="append-only"):
        AuditEntry.objects.filter(pk=entry.pk).update(message="x")
    with pytest.raises(ValueError, match="append-only"):
        AuditEntry.objects.filter(pk=entry.pk).delete()
    with pytest.raises(ValueError, match="append-only"):
        entry.save()


def test_a_seal_after_the_head_row_was_lost_continues_the_chain(trail):
    trail(2)
    sql("DELETE FROM audit_chainhead")
    trail(1)
    assert seal() == 0
    assert verify_audit()[0] == 0
    assert AuditEntry.objects.get(seq=3).prev_hash == AuditEntry.objects.get(seq=2).entry_hash


def _rehash(seq: int) -> str:
    row = AuditEntry.objects.filter(seq=seq).values(*CONTENT, "prev_hash").get()
    return entry_hash(row, seq, row["prev_hash"])


def test_the_sweep_signs_no_checkpoint_over_a_broken_chain(trail, signing_key):
    trail(3)
    sweep()
    trail(3)
    sql("UPDATE audit_auditentry SET message = 'quietly changed' WHERE seq = 5")

    sweep()

    assert list(AuditCheckpoint.objects.values_list("seq", flat=True)) == [3]
    status, _, err = verify_audit()
    assert status == 1 and "entry #5" in err


def test_checkpoint_audit_refuses_a_broken_chain_and_names_the_break(trail, signing_key):
    trail(3)
    call_command("checkpoint_audit", stdout=StringIO())
    trail(2)
    sql("DELETE FROM audit_auditentry WHERE seq = 4")

    with pytest.raises(CommandError, match="no checkpoint written: entry #4 is missing"):
        call_command("checkpoint_audit", stdout=StringIO())
    assert AuditCheckpoint.objects.count() == 1


def test_checkpoint_audit_signs_the_head(trail, signing_key):
    trail(2)
    out = StringIO()

    call_command("checkpoint_audit", stdout=out)

    checkpoint = AuditCheckpoint.objects.get()
    assert out.getvalue().startswith(f"checkpoint {checkpoint.pk}: entry #2 ")
    assert f"signed by key {checkpoint.key_id}" in out.getvalue()
