"""Re-encryption of stored secrets under their scope's data key, all or nothing.

The columns are found, not listed: every concrete field of every installed model that is
an ``EncryptedField``; each row's scope comes from the field's ``scope_field`` (the
platform's for platform secrets). ``rekey`` moves every value of the scopes asked for
under its scope's current data key (values written before data keys, under
``RM_ENCRYPTION_KEYS``, included), in batches, in one transaction; with ``fresh`` it first
retires each scope's key for a new one. Then every value is read back and must be under
its scope's current key. Any value that cannot be decrypted, or is not under that key
afterwards, rolls everything back: the failure names the model, field and primary key,
never a value.

A key retired by a run still decrypts (a process that read it as current just before
may still write with it); the next run destroys it once no value is under it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.db import models, transaction
from django.db.models import TextField, Value
from django.db.models.functions import Cast
from django.utils import timezone

from resourcemanager.core import crypto, datakeys
from resourcemanager.core.datakeys import PLATFORM, DataKey
from resourcemanager.core.fields import EncryptedField

DEFAULT_BATCH_SIZE = 500
#: Failures named in the error; the rest are counted.
SHOWN_FAILURES = 20


@dataclass(frozen=True)
class EncryptedColumn:
    """One encrypted field of one model."""

    model: type[models.Model]
    field: EncryptedField

    @property
    def label(self) -> str:
        """``app_label.Model.field``, e.g. ``consumers.Consumer.properties``."""
        return f"{self.model._meta.label}.{self.field.name}"

    def stored(self, scopes: Collection[str] | None = None) -> models.QuerySet:
        """The rows that hold a token (empty values are stored as they are), of ``scopes``
        (None: all)."""
        name = self.field.name
        rows = self.model._default_manager.exclude(**{f"{name}__isnull": True}).exclude(
            **{name: Value("", output_field=TextField())})
        if scopes is None:
            return rows
        if self.field.scope_field is None:
            return rows if PLATFORM in scopes else rows.none()
        return rows.filter(**{f"{self.field.scope_field}__in": list(scopes)})

    def tokens(self, rows: models.QuerySet) -> models.QuerySet:
        """(pk, scope, stored token) of ``rows``; the token read as text past the field,
        which would decrypt it."""
        scope = (Cast(self.field.scope_field, output_field=TextField())
                 if self.field.scope_field else Value(PLATFORM, output_field=TextField()))
        return rows.annotate(
            _scope=scope, _token=Cast(self.field.name, output_field=TextField()),
        ).order_by("pk").values_list("pk", "_scope", "_token")


class RotationFailed(Exception):
    """Some values could not be re-encrypted; nothing was changed."""

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


def stored_scopes() -> set[str]:
    """Every scope with a stored secret or a data key, and the platform."""
    found = {PLATFORM, *DataKey.objects.values_list("scope", flat=True)}
    for column in encrypted_columns():
        if column.field.scope_field:
            found.update(column.stored().values_list(column.field.scope_field, flat=True))
    return found


def rekey(
    scopes: Collection[str] | None = None, *, fresh: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE, progress: Progress | None = None,
) -> dict[str, int]:
    """Move every secret of ``scopes`` (None: all, the platform's included) under its
    scope's current data key, a new one with ``fresh``; the values re-encrypted per
    column label.

    Raises RotationFailed, having changed nothing, when a value cannot be decrypted or is
    not under its scope's current key afterwards. The KMS is called before the
    transaction opens (new keys wrapped, stored keys unwrapped); KMSError stops the run
    there.
    """
    started = timezone.now()
    targets = sorted(stored_scopes() if scopes is None else set(scopes))
    fresh_keys = [datakeys.new_key(scope) for scope in targets] if fresh else []
    for row in DataKey.objects.filter(scope__in=targets):
        datakeys.cipher_of(row)  # unwrapped now, not with rows locked
    if not fresh:
        for scope in targets:
            datakeys.current_key(scope)  # a scope's first key is made outside the run
    counts: dict[str, int] = {}
    with transaction.atomic():
        for row in fresh_keys:
            DataKey.objects.filter(scope=row.scope, current=True).update(
                current=None, retired_at=timezone.now())
            row.save(force_insert=True)
        if fresh_keys:  # read now and after the commit; others follow within seconds
            datakeys.forget_current(targets)
            transaction.on_commit(lambda: datakeys.forget_current(targets))
        current = dict(DataKey.objects.filter(scope__in=targets, current=True)
                       .values_list("scope", "pk"))
        failures: list[str] = []
        for column in encrypted_columns():
            counts[column.label] = _rekey_column(
                column, scopes, current, batch_size, progress, failures)
        if not failures:
            failures = [
                f"{column.label} pk={pk} is not under the current data key of "
                f"{datakeys.scope_label(scope)} (written by a process still running an "
                "earlier version? upgrade every process first)"
                for column in encrypted_columns()
                for pk, scope, token in _tokens(column, scopes, batch_size)
                if crypto.key_id(token) != current.get(scope)
            ]
        if failures:
            raise RotationFailed(failures)
        datakeys.destroy(DataKey.objects.filter(
            pk__in=unused_keys(targets, retired_before=started)))
    return counts


def unused_keys(scopes: Collection[str], retired_before: Any) -> list[str]:
    """Ids of the scopes' keys retired before then that no stored value is under."""
    retired = DataKey.objects.filter(scope__in=scopes, current=None,
                                     retired_at__lt=retired_before)
    return [key_id for key_id in retired.values_list("pk", flat=True) if not _in_use(key_id)]


def legacy_values() -> int:
    """How many stored values are still under ``RM_ENCRYPTION_KEYS`` (from before data
    keys)."""
    return sum(
        column.stored().annotate(_token=Cast(column.field.name, output_field=TextField()))
        .exclude(_token__startswith=f"{crypto.PREFIX}:").count()
        for column in encrypted_columns()
    )


def _in_use(key_id: str) -> bool:
    return any(
        column.stored().annotate(_token=Cast(column.field.name, output_field=TextField()))
        .filter(_token__startswith=f"{crypto.PREFIX}:{key_id}:").exists()
        for column in encrypted_columns()
    )


def _rekey_column(
    column: EncryptedColumn, scopes: Collection[str] | None, current: dict[str, str],
    batch_size: int, progress: Progress | None, failures: list[str],
) -> int:
    """Re-encrypt the column's tokens not yet under their scope's current key, batch by
    batch; record the values that cannot be read. Returns how many were re-encrypted."""
    total = column.stored(scopes).count()
    done = changed = 0
    for batch in _batches(column, scopes, batch_size, lock=True):
        for pk, scope, token in batch:
            if crypto.key_id(token) == current.get(scope):
                continue
            try:
                plaintext = crypto.decrypt(token)
            except crypto.DecryptionError:
                failures.append(f"{column.label} pk={pk} cannot be decrypted")
                continue
            column.model._default_manager.filter(pk=pk).update(**{
                column.field.name: Value(crypto.encrypt(scope, plaintext),
                                         output_field=TextField())})
            changed += 1
        done += len(batch)
        if progress:
            progress(column, done, total)
    return changed


def _tokens(
    column: EncryptedColumn, scopes: Collection[str] | None, batch_size: int
) -> Iterator[tuple[Any, str, str]]:
    for batch in _batches(column, scopes, batch_size, lock=False):
        yield from batch


def _batches(
    column: EncryptedColumn, scopes: Collection[str] | None, batch_size: int, *, lock: bool
) -> Iterator[list[tuple[Any, str, str]]]:
    """(pk, scope, stored token) triples in primary-key order, ``batch_size`` at a time."""
    rows = column.stored(scopes)
    if lock:
        rows = rows.select_for_update()
    last = None
    while True:
        page = rows if last is None else rows.filter(pk__gt=last)
        batch = list(column.tokens(page)[:batch_size])
        if not batch:
            return
        yield batch
        last = batch[-1][0]
