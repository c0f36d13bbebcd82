"""The trail as JSON lines, in chain order, from a cursor: for ``export_audit``, the API
and the sink (``audit.shipping``).

Each line is one sealed entry: its columns, ``timestamp`` in UTC, and ``seq``,
``prev_hash``, ``entry_hash``. The cursor is ``seq``: a reader resumes after the last
``seq`` it kept, and gets every later entry of the selection exactly once.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from audit.chain import CONTENT, iso_utc
from audit.models import AuditQuerySet

COLUMNS = ("seq", *CONTENT, "prev_hash", "entry_hash")
BATCH = 1000


def line(row: dict[str, Any]) -> str:
    """One entry as a JSON line (without the newline)."""
    return json.dumps({**row, "timestamp": iso_utc(row["timestamp"])}, ensure_ascii=False,
                      separators=(",", ":"))


def rows_after(entries: AuditQuerySet, after: int, *, limit: int | None = None,
               batch: int = BATCH) -> Iterator[dict[str, Any]]:
    """Sealed entries of ``entries`` with ``seq`` above ``after``, in order, read a batch at
    a time (each batch a query of its own, so a long export holds no transaction)."""
    left = limit
    while left is None or left > 0:
        size = batch if left is None else min(batch, left)
        rows = list(entries.sealed().filter(seq__gt=after).order_by("seq")
                    .values(*COLUMNS)[:size])
        yield from rows
        if len(rows) < size:
            return
        after = rows[-1]["seq"]
        if left is not None:
            left -= len(rows)
