"""Walking the chain: does every entry still hash, link and reach the checkpoints?

``verify`` reads the sealed entries in ``seq`` order, in batches, recomputes each hash
(``audit.chain``), checks that each links to the one before, that the places have no gap,
that every checkpoint's hash is reached and that its signature verifies. It stops the walk
at the first broken link and names it: an entry altered (its content no longer gives its
hash), deleted (a gap), inserted or moved (its link or place does not fit), the chain
rewritten before a checkpoint, or cut off after one.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from django.utils import timezone

from audit import checkpoints, signing
from audit.chain import CONTENT, GENESIS, entry_hash, seal
from audit.checkpoints import signed_document
from audit.models import AuditCheckpoint, AuditEntry, ChainHead

logger = logging.getLogger(__name__)
#: Unsealed entries older than this are reported (the sweep should have sealed them).
UNSEALED_GRACE = timedelta(minutes=5)


@dataclass
class Report:
    entries: int = 0
    checkpoints: int = 0
    newest: int = 0
    #: Breaks of the chain or of a checkpoint: the trail cannot be trusted as it is.
    problems: list[str] = field(default_factory=list)
    #: What verification could not cover (unsigned checkpoints, no key, unsealed entries).
    warnings: list[str] = field(default_factory=list)
    #: The checkpoint written after it (``checkpoint_if_intact``), if any.
    written: AuditCheckpoint | None = None


def verify(*, batch_size: int = 5000, progress: Callable[[int, int], None] | None = None,
           since_last_checkpoint: bool = False) -> Report:
    """The whole trail; or (``since_last_checkpoint``) only the newest checkpoint and the
    entries from it on, as the sweep checks them before it signs the next."""
    report = Report()
    checkpoints = list(AuditCheckpoint.objects.order_by("seq", "id"))
    if since_last_checkpoint:
        checkpoints = checkpoints[-1:]
    report.checkpoints = len(checkpoints)
    _check_signatures(checkpoints, report)
    by_seq: dict[int, list[AuditCheckpoint]] = defaultdict(list)
    for checkpoint in checkpoints:
        by_seq[checkpoint.seq].append(checkpoint)
    sealed = AuditEntry.objects.sealed()
    if since_last_checkpoint and checkpoints:
        sealed = sealed.filter(seq__gte=checkpoints[0].seq)
    total = sealed.count()
    first = sealed.order_by("seq").values_list("seq", flat=True).first()
    newest = _walk(first, by_seq, report, batch_size,
                   lambda done: progress(done, total) if progress else None,
                   since_last_checkpoint)
    report.newest = newest
    _check_end(newest, checkpoints, report)
    _check_unsealed(report)
    return report


def _walk(first: int | None, by_seq: dict[int, list[AuditCheckpoint]], report: Report,
          batch_size: int, progress: Callable[[int], None], from_checkpoint: bool) -> int:
    """Walk from the oldest entry kept; the newest entry reached unbroken."""
    if first is None:
        anchor = max(by_seq, default=0)
        return anchor if any(c.reason == AuditCheckpoint.Reason.PRUNE
                             for c in by_seq.get(anchor, [])) else 0
    previous = _start(first, by_seq, report, from_checkpoint)
    expected = first
    columns = ("id", "seq", "prev_hash", "entry_hash", *CONTENT)
    while True:
        rows = list(AuditEntry.objects.filter(seq__gte=expected).order_by("seq")
                    .values(*columns)[:batch_size])
        for row in rows:
            seq, name = row["seq"], f"entry #{row['seq']} (id {row['id']})"
            if seq != expected:
                report.problems.append(
                    f"entry #{expected} is missing: the chain goes from #{expected - 1} to "
                    f"#{seq} (deleted)")
                return expected - 1
            if previous is not None and row["prev_hash"] != previous:
                report.problems.append(
                    f"{name} does not link to entry #{seq - 1}: its prev_hash is not that "
                    "entry's hash (inserted, reordered or rewritten)")
                return seq - 1
            digest = entry_hash(row, seq, row["prev_hash"])
            if digest != row["entry_hash"]:
                report.problems.append(
                    f"{name} was altered: its content no longer gives its hash")
                return seq - 1
            for checkpoint in by_seq.get(seq, []):
                if checkpoint.head_hash != digest:
                    report.problems.append(
                        f"{name} does not match checkpoint {checkpoint.pk} of "
                        f"{checkpoint.created_at:%Y-%m-%d %H:%M:%S}: the chain up to it was "
                        "rewritten")
                    return seq - 1
            previous, expected = digest, expected + 1
            report.entries += 1
        progress(report.entries)
        if len(rows) < batch_size:
            return expected - 1


def _start(first: int, by_seq: dict[int, list[AuditCheckpoint]], report: Report,
           from_checkpoint: bool) -> str | None:
    """The hash the oldest entry kept must link to: the genesis, or the checkpoint written
    at the cut when older entries were pruned. None (not checked) when nothing anchors it,
    or when a checkpoint at ``first`` itself vouches for it (a walk from a checkpoint)."""
    if first == 1:
        return GENESIS
    if from_checkpoint and by_seq.get(first) and not by_seq.get(first - 1):
        return None
    anchors = by_seq.get(first - 1, [])
    if not anchors:
        report.problems.append(
            f"entries #1 to #{first - 1} are missing and no checkpoint anchors the oldest "
            f"entry #{first} (deleted other than by prune_audit)")
        return None
    return anchors[0].head_hash


def _check_end(newest: int, checkpoints: list[AuditCheckpoint], report: Report) -> None:
    if report.problems:
        return
    beyond = [c for c in checkpoints if c.seq > newest]
    if beyond:
        checkpoint = beyond[-1]
        report.problems.append(
            f"the chain ends at entry #{newest}, but checkpoint {checkpoint.pk} of "
            f"{checkpoint.created_at:%Y-%m-%d %H:%M:%S} names entry #{checkpoint.seq}: "
            "the newest entries were removed")
        return
    head = ChainHead.objects.filter(pk=1).values_list("seq", flat=True).first() or 0
    if head > newest:
        report.problems.append(
            f"the chain ends at entry #{newest}, but its head was at #{head}: the newest "
            "entries were removed")


def _check_signatures(checkpoints: list[AuditCheckpoint], report: Report) -> None:
    keys = signing.verify_keys()
    unsigned = [c for c in checkpoints if not c.signature]
    if unsigned:
        report.warnings.append(
            f"{len(unsigned)} of {len(checkpoints)} checkpoints are not signed "
            "(no RM_AUDIT_SIGNING_KEY when they were written): they do not protect against "
            "someone who can write to the database")
    if not keys:
        if len(unsigned) < len(checkpoints):
            report.warnings.append(
                "no key to check signatures with: set RM_AUDIT_VERIFY_KEY (or "
                "RM_AUDIT_SIGNING_KEY)")
        return
    for checkpoint in checkpoints:
        if not checkpoint.signature:
            continue
        key = keys.get(checkpoint.key_id)
        name = (f"checkpoint {checkpoint.pk} (entry #{checkpoint.seq}, "
                f"{checkpoint.created_at:%Y-%m-%d %H:%M:%S})")
        if key is None:
            report.problems.append(
                f"{name} is signed by key {checkpoint.key_id}, which is not among "
                "RM_AUDIT_VERIFY_KEY")
        elif not signing.verifies(key, signed_document(checkpoint), checkpoint.signature):
            report.problems.append(f"{name}: its signature does not verify")


def checkpoint_if_intact(reason: str, *, only_if_moved: bool = False) -> Report:
    """Verify the chain since the newest checkpoint and, if it holds, write the next: a
    checkpoint never signs a chain already broken. The report says what was found."""
    seal()
    report = verify(since_last_checkpoint=True)
    if report.problems:
        logger.error("audit trail broken, no checkpoint written: %s", report.problems[0])
        return report
    report.written = checkpoints.write(reason, only_if_moved=only_if_moved)
    return report


def _check_unsealed(report: Report) -> None:
    stale = AuditEntry.objects.filter(
        seq__isnull=True, timestamp__lt=timezone.now() - UNSEALED_GRACE).count()
    if stale:
        report.warnings.append(
            f"{stale} entries older than {UNSEALED_GRACE.seconds // 60} minutes are not "
            "sealed yet: is the beat running (audit.sweep)?")
