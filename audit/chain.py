"""The hash chain of the audit trail: its canonical encoding, and sealing.

Every entry, once sealed, carries ``seq`` (its place: 1, 2, …), ``prev_hash`` (the hash of
entry ``seq - 1``; 64 zeros for the first) and ``entry_hash``: the SHA-256 of
``canonical(entry)``, UTF-8 JSON with sorted keys, no spaces and these members:
``seq``, ``prev_hash``, ``timestamp`` (UTC, ``2026-01-31T12:00:00.123456Z``), ``actor``,
``scope``, ``action``, ``target_type``, ``target_id``, ``target_name``, ``outcome``,
``message``, ``request_id``, ``source_ip`` (null when unknown). Changing, removing,
inserting or moving any entry therefore changes the hash of every entry after it.

Why entries are sealed after their commit, not when written: ``record`` runs inside the
callers' transactions, some long (an operation's outcome, a sweep), from web and worker
processes at once. Taking the chain's lock there would hold it until each caller commits
and make every audited transaction in the app wait for the others. So ``record`` only
inserts the entry, unsealed (``seq`` null), and asks for a seal right after its
transaction commits (``transaction.on_commit``). A seal takes the one-row ``ChainHead``
``FOR UPDATE`` (on SQLite the transaction's write lock does the same) in a short
transaction of its own, reads the committed unsealed entries in id order, chains them
after the head and moves the head, so the chain never forks and has no gaps; an entry
committed later than one with a higher id is simply sealed after it.

A seal costs a transaction of its own; made after every audited commit it would cost
every action that much again. So a request seals once, however many times it committed,
and only after its answer has been delivered (``audit.middleware``); and a process seals
only when its last seal is ``RM_AUDIT_SEAL_INTERVAL`` seconds old or more; the entries of
the commits between are taken by the next seal, its own or another process's, at the
latest by the sealing sweep (``audit.seal``, as often). ``verify_audit``, the export and
the pruning seal first.

After its commit a process does not queue for the head: if another process holds it
(``SKIP LOCKED``), it leaves its entry to that one, which looks for unsealed entries again
once its own seal has committed (so after this entry's commit) and seals them too. Under
load one process thus seals for all, a batch per transaction, while the others go on.
That loop is bounded (``AFTER_COMMIT_ROUNDS``); whatever is left then, or by a process
that died between its commit and its seal, the sealing sweep seals. The window between
the write and the seal (at most about ``RM_AUDIT_SEAL_INTERVAL`` with beat running) is
the one time an entry is not chained yet.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection, transaction

from audit.models import AuditEntry, ChainHead

logger = logging.getLogger(__name__)
GENESIS = "0" * 64
#: The entry's own columns that its hash covers (with ``seq`` and ``prev_hash``).
CONTENT = ("timestamp", "actor", "scope", "action", "target_type", "target_id",
           "target_name", "outcome", "message", "request_id", "source_ip")
#: Entries sealed per transaction.
SEAL_BATCH = 500
#: Batches a process seals after its own commit at most; the sweep seals any left.
AFTER_COMMIT_ROUNDS = 20


def iso_utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(entry: Mapping[str, Any], seq: int, prev_hash: str) -> bytes:
    """The bytes ``entry_hash`` is the SHA-256 of (``entry``: the ``CONTENT`` columns)."""
    document = {name: entry[name] for name in CONTENT}
    document.update(timestamp=iso_utc(entry["timestamp"]), seq=seq, prev_hash=prev_hash)
    return json.dumps(document, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode()


def entry_hash(entry: Mapping[str, Any], seq: int, prev_hash: str) -> str:
    return hashlib.sha256(canonical(entry, seq, prev_hash)).hexdigest()


def append(fields: dict[str, Any]) -> AuditEntry:
    """Write an entry, and seal after the current transaction commits (at once outside
    one), unless this process sealed less than ``RM_AUDIT_SEAL_INTERVAL`` seconds ago: then
    the next seal, of any process, or the sealing sweep takes the entry. Under load a
    process thus seals a batch at most once per interval instead of once per entry."""
    entry = AuditEntry.objects.create(**fields)
    _seal_soon()
    return entry


def append_many(rows: list[dict[str, Any]]) -> list[AuditEntry]:
    """Write entries in one INSERT, in order, sealed as ``append`` seals one."""
    entries = AuditEntry.objects.bulk_create([AuditEntry(**fields) for fields in rows])
    _seal_soon()
    return entries


def _seal_soon() -> None:
    waiting = _one_seal.get()
    if waiting is not None:  # inside ``seals_waiting``: its caller seals
        waiting.append(True)
    elif _seal_due():
        transaction.on_commit(seal_waiting, robust=True)


def _seal_due() -> bool:
    return time.monotonic() - _last_seal[0] >= settings.RM_AUDIT_SEAL_INTERVAL


@contextmanager
def seals_waiting() -> Iterator[list[bool]]:
    """Within the block, the commits that write entries only mark (in the list yielded)
    that a seal is due, instead of sealing one each; the caller seals once, later, with
    ``seal_if_waiting``. A request commits several times when its operations run
    in-process: its request, each run's outcome."""
    waiting: list[bool] = []
    token = _one_seal.set(waiting)
    try:
        yield waiting
    finally:
        _one_seal.reset(token)


def seal_if_waiting(waiting: list[bool]) -> None:
    """The one seal ``seals_waiting`` put off, if its block wrote entries (and unless this
    process sealed within ``RM_AUDIT_SEAL_INTERVAL``)."""
    if waiting and _seal_due():
        transaction.on_commit(seal_waiting, robust=True)


#: The entries written inside ``seals_waiting`` (one mark per write), else None.
_one_seal: ContextVar[list[bool] | None] = ContextVar("audit_one_seal", default=None)


def seal_waiting() -> int:
    """After a commit: seal what is waiting unless another process is sealing right now.
    That one looks for waiting entries again once its own seal committed, which is after
    ours committed, so it takes ours too; bounded, and the sweep is the backstop."""
    _last_seal[0] = time.monotonic()
    try:
        return seal(rounds=AFTER_COMMIT_ROUNDS, wait=False)
    except DatabaseError:
        logger.exception("sealing audit entries failed; the sweep will")
        return 0


#: When this process last sealed after a commit (``time.monotonic``).
_last_seal = [float("-inf")]


def seal(*, rounds: int | None = None, wait: bool = True, look_first: bool = False) -> int:
    """Chain the committed unsealed entries after the head, oldest id first, a batch per
    transaction, until none is left (or ``rounds`` batches); how many. Without ``wait``,
    give up at once when another transaction holds the head."""
    sealed, done = 0, 0
    while rounds is None or done < rounds:
        # Look before locking, except right after a commit of ours: usually none is left.
        if (done or look_first) and not AuditEntry.objects.filter(seq__isnull=True).exists():
            break
        with transaction.atomic():
            head = locked_head(wait=wait)
            if head is None:
                break
            batch = _seal_batch(head)
            if not batch:  # sealed by another meanwhile: release the lock, no commit to flush
                transaction.set_rollback(True)
                break
            sealed += batch
        done += 1
    return sealed


def locked_head(*, wait: bool = True) -> ChainHead | None:
    """The chain's head, locked until the current transaction ends (None: another holds
    it and not ``wait``). Made on first use from the newest sealed entry (none: genesis)."""
    heads = ChainHead.objects.select_for_update(skip_locked=not wait).filter(pk=1)
    head = heads.first()
    if head is not None or ChainHead.objects.filter(pk=1).exists():
        return head
    newest = AuditEntry.objects.sealed().order_by("-seq").values("seq", "entry_hash").first()
    ChainHead.objects.get_or_create(pk=1, defaults=newest or {})
    return heads.first()


def _seal_batch(head: ChainHead) -> int:
    rows = list(AuditEntry.objects.filter(seq__isnull=True).order_by("id")
                .values("id", *CONTENT)[:SEAL_BATCH])
    seq, previous = head.seq, head.entry_hash or GENESIS
    places: list[tuple[int, int, str, str]] = []
    for row in rows:
        seq += 1
        digest = entry_hash(row, seq, previous)
        places.append((row["id"], seq, previous, digest))
        previous = digest
    if places:
        _write(places)
        head.seq, head.entry_hash = seq, previous
        head.save(update_fields=["seq", "entry_hash"])
    return len(places)


def _write(places: list[tuple[int, int, str, str]]) -> None:
    """One UPDATE for the batch, on unsealed rows only. ``AuditQuerySet.update`` refuses
    every other change to entries; this is the one path that sets their place."""
    table = connection.ops.quote_name(AuditEntry._meta.db_table)
    values = ", ".join(["(%s, %s, %s, %s)"] * len(places))
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET seq = v.column2, prev_hash = v.column3, "  # noqa: S608
            f"entry_hash = v.column4 FROM (VALUES {values}) AS v "
            f"WHERE {table}.id = v.column1 AND {table}.seq IS NULL",
            [value for place in places for value in place])
        if cursor.rowcount != len(places):
            raise RuntimeError("audit entries were sealed by another transaction")
