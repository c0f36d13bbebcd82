"""Key rotation: re-encrypt every encrypted column with the first key of RM_ENCRYPTION_KEYS.

The columns are found, not listed: every concrete field of every installed model that is
an ``EncryptedField``. Tokens are rotated as they are stored (``MultiFernet.rotate``), in
batches, in one transaction; then every token is read back and must decrypt with the first
key alone. Any value that cannot be decrypted, or is not under the first key afterwards,
rolls everything back: the failure names the model, field and primary key, never a value.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.db import models, transaction
from django.db.models import TextField, Value
from django.db.models.functions import Cast

from resourcemanager.core import crypto
from resourcemanager.core.fields import EncryptedField

DEFAULT_BATCH_SIZE = 500
#: Failures named in the error; the rest are counted.
SHOWN_FAILURES = 20


@dataclass(frozen=True)
class EncryptedColumn:
    """One encrypted field of one model."""

    model: type[models.Model]
    field: models.Field

    @property
    def label(self) -> str:
        """``app_label.Model.field``, e.g. ``consumers.Consumer.properties``."""
        return f"{self.model._meta.label}.{self.field.name}"


class RotationFailed(Exception):
    """Some values could not be rotated; nothing was changed."""

    def __init__(self, failures: list[str]) -> None:
        shown = "; ".join(failures[:SHOWN_FAILURES])
        more = len(failures) - SHOWN_FAILURES
        super().__init__(shown + (f"; and {more} more" if more > 0 else ""))
        self.failures = failures


#: Called after each batch with the column, the values done so far and the column's rows.
Progress = Callable[[EncryptedColumn, int, int], None]


def encrypted_columns() -> list[EncryptedColumn]:
    """Every encrypted field of every installed model (proxies share their model's table)."""
    return [
        EncryptedColumn(model, field)
        for model in apps.get_models()
        if not model._meta.proxy
        for field in model._meta.local_concrete_fields
        if isinstance(field, EncryptedField)
    ]


def rotate_all(
    batch_size: int = DEFAULT_BATCH_SIZE, progress: Progress | None = None
) -> dict[str, int]:
    """Re-encrypt every stored secret with the first key; the count per column label.

    Raises RotationFailed, having changed nothing, when a value cannot be decrypted with
    any configured key or does not decrypt with the first key once rotated.
    """
    counts: dict[str, int] = {}
    with transaction.atomic():
        failures: list[str] = []
        for column in encrypted_columns():
            counts[column.label] = _rotate_column(column, batch_size, progress, failures)
        if not failures:
            failures = [
                f"{column.label} pk={pk} is not under the first key (written by a process "
                "that still has the old keys? restart every process with the new key first)"
                for column in encrypted_columns()
                for pk, token in _tokens(column, batch_size)
                if not crypto.is_current(token)
            ]
        if failures:
            raise RotationFailed(failures)
    return counts


def _rotate_column(
    column: EncryptedColumn, batch_size: int, progress: Progress | None, failures: list[str]
) -> int:
    """Rotate the column's tokens batch by batch; record the values that cannot be read."""
    total = _stored(column).count()
    done = 0
    for batch in _batches(column, batch_size, lock=True):
        for pk, token in batch:
            try:
                rotated = crypto.rotate(token)
            except crypto.DecryptionError:
                failures.append(f"{column.label} pk={pk} cannot be decrypted with any key")
                continue
            column.model._default_manager.filter(pk=pk).update(
                **{column.field.name: Value(rotated, output_field=TextField())}
            )
        done += len(batch)
        if progress:
            progress(column, done, total)
    return done


def _stored(column: EncryptedColumn) -> models.QuerySet:
    """The column's rows that hold a token (empty values are stored as they are)."""
    name = column.field.name
    return column.model._default_manager.exclude(**{f"{name}__isnull": True}).exclude(
        **{name: Value("", output_field=TextField())}
    )


def _tokens(column: EncryptedColumn, batch_size: int) -> Iterator[tuple[Any, str]]:
    for batch in _batches(column, batch_size, lock=False):
        yield from batch


def _batches(
    column: EncryptedColumn, batch_size: int, *, lock: bool
) -> Iterator[list[tuple[Any, str]]]:
    """(pk, stored token) pairs in primary-key order, ``batch_size`` at a time. The token is
    read as text past the field, which would decrypt it."""
    rows = _stored(column).annotate(
        _token=Cast(column.field.name, output_field=TextField())
    ).order_by("pk")
    if lock:
        rows = rows.select_for_update()
    last = None
    while True:
        page = rows if last is None else rows.filter(pk__gt=last)
        batch = list(page.values_list("pk", "_token")[:batch_size])
        if not batch:
            return
        yield batch
        last = batch[-1][0]
