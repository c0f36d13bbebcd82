"""The restore drill (``manage.py verify_backups``): a resource's latest completed backup
restored into a scratch database on the same provider instance, and compared with what
the database held when it was backed up.

Per resource: the stored object's SHA-256 is checked against the recorded one; a scratch
database and its owner login (a fresh backend name of the instance's prefix, a random
password) are made through the adapter's ``create`` with the admin connection; the backup
is restored into it as that login; its tables and exact row counts (the adapter's
``manifest``) are compared with the backup's manifest; the scratch database and login are
dropped through ``delete`` whatever happened. Each drill is audited as
``resource.backup_verify``. Nothing of the resource itself is touched.
"""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from django.db.models import Exists, OuterRef, QuerySet

from audit.models import AuditEntry
from providers.adapters.base import ProviderAdapter, ProviderError
from providers.adapters.naming import new_backend_name
from resourcemanager.backups.models import Backup, RunStatus
from resourcemanager.backups.sealing import SealError, unseal
from resourcemanager.backups.store import StoreError, backup_store
from resourcemanager.identity.roles import SYSTEM
from resourcemanager.resources.models import Resource
from resourcemanager.resources.operations import audit_resource

Outcome = AuditEntry.Outcome
#: At most this many differing tables are named in a drill's message.
_NAMED = 5


class DrillFailed(Exception):
    """The backup did not restore as recorded; the message says how."""


@dataclass(frozen=True)
class DrillOutcome:
    resource: Resource
    backup: Backup | None
    ok: bool
    message: str
    seconds: float


def select_resources(scope: str | None = None, resource_ids: Iterable[str] = ()
                     ) -> QuerySet[Resource]:
    """The resources to drill: those named (each one, with or without a backup), else
    those of ``scope`` (else of every scope) that have a completed backup."""
    resources = Resource.objects.select_related("provider").order_by("scope", "name")
    if ids := list(resource_ids):
        return resources.filter(pk__in=ids)
    completed = Backup.objects.filter(resource=OuterRef("pk"), status=RunStatus.COMPLETED)
    resources = resources.filter(Exists(completed))
    return resources.filter(scope=scope) if scope else resources


def drill_all(resources: Iterable[Resource],
              progress: Callable[[DrillOutcome], None] | None = None) -> list[DrillOutcome]:
    outcomes = []
    for resource in resources:
        outcomes.append(outcome := drill(resource))
        if progress:
            progress(outcome)
    return outcomes


def drill(resource: Resource) -> DrillOutcome:
    """Restore ``resource``'s latest completed backup into a scratch database, check it,
    drop it, and audit the outcome."""
    started = time.monotonic()
    backup = (resource.backups.filter(status=RunStatus.COMPLETED)
              .order_by("-completed_at").first())
    try:
        if backup is None:
            raise DrillFailed("no completed backup to verify")
        message = _restored_as_recorded(resource, backup)
        ok = True
    except DrillFailed as exc:
        message, ok = str(exc), False
    outcome = DrillOutcome(resource, backup, ok, message, round(time.monotonic() - started, 3))
    audit_resource(SYSTEM.name, "resource.backup_verify",
                   Outcome.SUCCESS if ok else Outcome.FAILURE, resource,
                   f"backup {backup.pk if backup else '-'}: {message}")
    return outcome


def _restored_as_recorded(resource: Resource, backup: Backup) -> str:
    adapter = resource.provider.adapter()
    if backup.format != adapter.dump_format:
        raise DrillFailed(f"the backup is a {backup.format} dump; the instance takes "
                          f"{adapter.dump_format or 'none'}")
    try:
        intact = backup_store().checksum(backup.object_key) == backup.sha256
    except StoreError as exc:
        raise DrillFailed(str(exc)) from None
    if not intact:
        raise DrillFailed("the stored backup does not match its checksum: it is damaged")
    found = restored_on_scratch(resource, backup)
    if backup.manifest is None:
        return f"restored ({len(found)} tables); the backup has no manifest to compare with"
    differences = compare(backup.manifest.get("tables", {}), found)
    if differences:
        raise DrillFailed("the restored copy differs from the backup's manifest: "
                          + "; ".join(differences))
    return f"restored and matches its manifest: {len(found)} tables, {sum(found.values())} rows"


def compare(expected: dict[str, int], found: dict[str, int]) -> list[str]:
    """How ``found`` (tables and row counts) differs from ``expected``, a few named."""
    missing = sorted(set(expected) - set(found))
    extra = sorted(set(found) - set(expected))
    counts = [f"{name}: {found[name]} rows, {expected[name]} recorded"
              for name in sorted(set(expected) & set(found)) if found[name] != expected[name]]
    differences = []
    if missing:
        differences.append("missing tables " + ", ".join(missing[:_NAMED]))
    if extra:
        differences.append("tables not in the backup " + ", ".join(extra[:_NAMED]))
    return differences + counts[:_NAMED]


def restored_on_scratch(resource: Resource, backup: Backup,
                        through: Callable[[Iterator[bytes]], Iterator[bytes]] | None = None
                        ) -> dict[str, int]:
    """Restore ``backup`` (whose stored object the caller checked against its checksum)
    into a scratch database (or bucket) of ``resource``'s instance, as its own owner
    login, the dump passed ``through`` on its way, and drop it whatever happened. Returns
    the tables and row counts it held; raises ``DrillFailed`` saying what went wrong."""
    adapter = resource.provider.adapter()
    scratch = new_backend_name(resource.provider.options.get("name_prefix", "rm_"))
    problems = []
    try:
        found = _restore_into(adapter, backup, scratch, through)
    except (ProviderError, StoreError, SealError, DrillFailed) as exc:
        problems.append(str(exc))
    try:
        adapter.delete(scratch)
    except ProviderError as exc:  # named, so that an operator (or find_orphans) drops it
        problems.append(f"the scratch database {scratch} could not be dropped: {exc}")
    if problems:
        raise DrillFailed("; ".join(problems))
    return found


def _restore_into(adapter: ProviderAdapter, backup: Backup, scratch: str,
                  through: Callable[[Iterator[bytes]], Iterator[bytes]] | None
                  ) -> dict[str, int]:
    """Restore the stored object, its checksum checked already, into a new scratch
    database named ``scratch``, and return the tables and row counts found there."""
    store = backup_store()
    credentials = adapter.create(scratch, secrets.token_urlsafe(24), {})
    opened = unseal(store.read(backup.object_key), base64.b64decode(backup.data_key),
                    compressed=backup.compressed)
    adapter.restore(credentials, through(opened) if through else opened, owner=scratch)
    return adapter.manifest(credentials)
