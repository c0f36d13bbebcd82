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
inserts the entry, unsealed (``seq`` null), and asks for ``seal`` right after its
transaction commits (``transaction.on_commit``). ``seal`` takes the one-row ``ChainHead``
``FOR UPDATE`` (on SQLite the transaction's write lock does the same) in a short
transaction of its own, reads the committed unsealed entries in id order, chains them
after the head and moves the head: concurrent sealers queue on that row, each finding the
entries the others left, so the chain never forks and has no gaps; an entry committed later
than one with a higher id is simply sealed after it. If a process dies between its commit
and its seal, the periodic sweep (``audit.sweep``) seals what is left. The window between
the write and the seal (normally milliseconds) is the one time an entry is not yet chained.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from django.db import models, transaction
from django.db.models import Case, Value, When

from audit.models import AuditEntry, ChainHead

GENESIS = "0" * 64
#: The entry's own columns that its hash covers (with ``seq`` and ``prev_hash``).
CONTENT = ("timestamp", "actor", "scope", "action", "target_type", "target_id",
           "target_name", "outcome", "message", "request_id", "source_ip")
#: Entries sealed per transaction.
SEAL_BATCH = 500


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


def seal_after_commit() -> None:
    """Seal the entries of the current transaction once it commits (at once outside one)."""
    transaction.on_commit(seal, robust=True)


def seal() -> int:
    """Chain every committed unsealed entry after the head, oldest id first; how many."""
    sealed = 0
    while True:
        with transaction.atomic():
            head = locked_head()
            rows = list(AuditEntry.objects.filter(seq__isnull=True).order_by("id")
                        .values("id", *CONTENT)[:SEAL_BATCH])
            if not rows:
                return sealed
            seq, previous = head.seq, head.entry_hash or GENESIS
            places: dict[int, tuple[int, str, str]] = {}
            for row in rows:
                seq += 1
                digest = entry_hash(row, seq, previous)
                places[row["id"]] = (seq, previous, digest)
                previous = digest
            _write(places)
            head.seq, head.entry_hash = seq, previous
            head.save(update_fields=["seq", "entry_hash"])
            sealed += len(rows)
        if len(rows) < SEAL_BATCH:
            return sealed


def locked_head() -> ChainHead:
    """The chain's head, locked until the current transaction ends. Made on first use,
    from the newest sealed entry (none: the genesis)."""
    head = ChainHead.objects.select_for_update().filter(pk=1).first()
    if head is not None:
        return head
    newest = AuditEntry.objects.sealed().order_by("-seq").values("seq", "entry_hash").first()
    ChainHead.objects.get_or_create(pk=1, defaults=newest or {})
    return ChainHead.objects.select_for_update().get(pk=1)


def _write(places: dict[int, tuple[int, str, str]]) -> None:
    """One UPDATE for the batch. ``AuditQuerySet.update`` refuses every other change:
    only unsealed rows are touched, and only here."""
    def column(index: int, field: models.Field) -> Case:
        return Case(*(When(pk=pk, then=Value(values[index])) for pk, values in places.items()),
                    output_field=field)

    unsealed = AuditEntry.objects.filter(pk__in=list(places), seq__isnull=True)
    fields = {name: AuditEntry._meta.get_field(name)
              for name in ("seq", "prev_hash", "entry_hash")}
    changed = models.QuerySet.update(unsealed, **{
        name: column(index, field) for index, (name, field) in enumerate(fields.items())
    })
    if changed != len(places):
        raise RuntimeError("audit entries were sealed by another transaction")
