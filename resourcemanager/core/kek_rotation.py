"""KEK rotation: every data key re-wrapped under the current key-encryption key of
``RM_KMS``. Secrets are not touched: their data keys stay the same.

A key is re-wrapped by the backend that wrapped it when that is the current one (Vault's
``rewrap``, which never shows the key), else unwrapped by its own and wrapped by the
current one, which moves data keys from one KMS to another. Every new wrapping is
unwrapped again and compared before anything is written; then every row is written in one
transaction, or none (KMS calls happen before it opens).
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import transaction

from resourcemanager.core import kms
from resourcemanager.core.datakeys import DataKey
from resourcemanager.core.key_rotation import RotationFailed

#: Called after each key with the keys done so far and their number.
Progress = Callable[[int, int], None]


def rewrap_all(progress: Progress | None = None) -> int:
    """Re-wrap every data key under the current KEK; how many. Raises RotationFailed,
    having changed nothing, when a key cannot be unwrapped or re-wrapped."""
    kek = kms.current()
    rows = list(DataKey.objects.order_by("pk"))
    rewrapped: dict[str, tuple[str, str]] = {}
    failures: list[str] = []
    for done, row in enumerate(rows, start=1):
        try:
            rewrapped[row.pk] = (row.wrapped, _rewrap(row, kek))
        except kms.KMSError as exc:
            failures.append(f"{row}: {exc.message}")
        if progress:
            progress(done, len(rows))
    if failures:
        raise RotationFailed(failures)
    with transaction.atomic():
        for pk, (old, new) in rewrapped.items():
            written = DataKey.objects.filter(pk=pk, wrapped=old).update(wrapped=new, kms=kek.name)
            if not written and DataKey.objects.filter(pk=pk).exists():
                failures.append(f"data key {pk} was re-wrapped by another run meanwhile")
        if failures:
            raise RotationFailed(failures)
    return len(rewrapped)


def _rewrap(row: DataKey, kek: kms.KEK) -> str:
    """The row's key under ``kek``, checked to unwrap to the same key."""
    key = kms.backend(row.kms).unwrap(row.wrapped)
    wrapped = kek.rewrap(row.wrapped) if row.kms == kek.name else kek.wrap(key)
    if kek.unwrap(wrapped) != key:
        raise kms.KMSError(f"KMS {kek.name} refused: the re-wrapped key unwraps to another key")
    return wrapped
