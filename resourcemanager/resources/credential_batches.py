"""Rotating many credentials at once, for operators (``manage.py rotate_credentials``).

The selection is of active credentials, by scope, provider instance, resource and age
(since the last rotation, or since the issue if never rotated). Each is rotated on its
own through ``rotate_credential`` as the SYSTEM principal, so each is audited and checked
as a request is; one refused (a rotation under way, its resource not ready) is skipped
with the reason and the batch goes on.
"""

from __future__ import annotations

import logging
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta

from django.db.models import QuerySet
from django.db.models.functions import Coalesce
from django.utils import timezone

from providers.models import Provider
from resourcemanager.core.errors import Conflict, InvalidInput, NotFound
from resourcemanager.core.validation import validate_seconds
from resourcemanager.identity.roles import SYSTEM, Action, scope_exists
from resourcemanager.resources.credentials import MAX_GRACE, rotate_credential
from resourcemanager.resources.models import Credential, Resource

logger = logging.getLogger(__name__)
Status = Credential.Status

_DURATION = re.compile(r"(\d+)\s*([smhd]?)")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
#: Seconds between two looks at a rotation a worker carries out.
_POLL = 0.2

ROTATED, QUEUED, SKIPPED, FAILED, WOULD_ROTATE = (
    "rotated", "queued", "skipped", "failed", "would rotate")


@dataclass(frozen=True)
class RotationOutcome:
    """What became of one selected credential."""

    credential_id: str
    target: str  #: ``scope/resource holder (access)``
    outcome: str
    message: str = ""


@dataclass
class BatchReport:
    outcomes: list[RotationOutcome] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        return Counter(each.outcome for each in self.outcomes)[outcome]

    @property
    def failed(self) -> list[RotationOutcome]:
        return [each for each in self.outcomes if each.outcome == FAILED]


#: ``progress(done, total, outcome)``, called as each credential is settled.
Progress = Callable[[int, int, RotationOutcome], None]


def parse_duration(text: str, name: str = "duration") -> int:
    """Seconds in ``text``: ``3600``, ``90s``, ``90m``, ``12h`` or ``30d``."""
    found = _DURATION.fullmatch(str(text).strip().lower())
    if found is None:
        raise InvalidInput(f"{name} is a number of seconds, or of minutes, hours or days "
                           f"with m, h or d after it (90m, 12h, 30d); not {text!r}",
                           field=name)
    return int(found[1]) * _UNIT_SECONDS[found[2]]


def select_credentials(
    scopes: Iterable[str] = (), provider: str | None = None, *,
    older_than: int | None = None, resource: str | None = None,
) -> QuerySet[Credential]:
    """The active credentials of ``scopes`` (default: every scope), of instance
    ``provider`` and of ``resource``, last rotated (or issued) ``older_than`` seconds ago
    or earlier; oldest first. Unknown scopes, instances or resources are refused."""
    selected = _in_scopes(Credential.objects.all(), list(scopes)).filter(status=Status.ACTIVE)
    if provider is not None:
        if not Provider.objects.filter(key=provider).exists():
            raise InvalidInput(f"no provider instance {provider!r}", field="provider")
        selected = selected.filter(resource__provider__key=provider)
    if resource is not None:
        found = Resource.objects.visible_to(SYSTEM, Action.MANAGE_CREDENTIAL).with_id(resource)
        if found is None:
            raise NotFound(f"no resource {resource!r}")
        selected = selected.filter(resource=found)
    selected = selected.annotate(last_rotation=Coalesce("rotated_at", "created_at"))
    if older_than is not None:
        selected = selected.filter(
            last_rotation__lte=timezone.now() - timedelta(seconds=older_than))
    return selected.select_related("resource").order_by("last_rotation", "pk")


def rotate_selected(
    credentials: Iterable[Credential], *, grace: int | None = None, wait: float = 60,
    progress: Progress | None = None,
) -> BatchReport:
    """Rotate each of ``credentials`` in turn, as SYSTEM; a rotation a worker carries out
    is waited for up to ``wait`` seconds (then reported queued)."""
    if grace is not None:  # refused once, before the first rotation
        validate_seconds(grace, "grace", minimum=0, maximum=MAX_GRACE)
    selected = list(credentials)
    report = BatchReport()
    for done, credential in enumerate(selected, start=1):
        outcome = _rotate_one(credential, grace, wait)
        report.outcomes.append(outcome)
        if progress:
            progress(done, len(selected), outcome)
    return report


def would_rotate(credentials: Iterable[Credential]) -> BatchReport:
    """What ``rotate_selected`` would be asked to rotate; nothing changes."""
    now = timezone.now()
    return BatchReport([
        RotationOutcome(str(each.pk), describe(each), WOULD_ROTATE,
                        f"{'last rotated' if each.rotated_at else 'issued'} "
                        f"{_age(now - each.last_rotation)} ago")
        for each in credentials])


def describe(credential: Credential) -> str:
    return (f"{credential.scope}/{credential.resource.name} {credential.holder} "
            f"({credential.access})")


def _rotate_one(credential: Credential, grace: int | None, wait: float) -> RotationOutcome:
    target, old_login = describe(credential), credential.login

    def outcome(kind: str, message: str = "") -> RotationOutcome:
        return RotationOutcome(str(credential.pk), target, kind, message)

    try:
        rotate_credential(SYSTEM, credential, grace=grace)
    except Conflict as refusal:
        return outcome(SKIPPED, refusal.message)
    except Credential.DoesNotExist:
        return outcome(SKIPPED, "the credential no longer exists")
    except Exception as exc:  # one credential's trouble does not stop the batch
        logger.exception("rotating credential %s failed", credential.pk)
        return outcome(FAILED, f"{type(exc).__name__}: {exc}")
    settled = _settled(credential.pk, wait)
    if settled is None:
        return outcome(SKIPPED, "the credential no longer exists")
    if settled.status == Status.ROTATING:
        return outcome(QUEUED, f"still rotating after {wait:g} s; a worker carries it out")
    if settled.login != old_login:
        return outcome(ROTATED, f"new login {settled.login}")
    if settled.status in (Status.REVOKING, Status.REVOKED):
        return outcome(SKIPPED, f"the credential is {settled.status}")
    return outcome(FAILED, settled.status_message or f"the credential is {settled.status}")


def _settled(credential_id: object, wait: float) -> Credential | None:
    """The credential once no longer rotating, or as it is after ``wait`` seconds."""
    deadline = time.monotonic() + wait
    while True:
        current = Credential.objects.filter(pk=credential_id).first()
        if current is None or current.status != Status.ROTATING \
                or time.monotonic() >= deadline:
            return current
        time.sleep(_POLL)


def _in_scopes(credentials: QuerySet[Credential], scopes: list[str]) -> QuerySet[Credential]:
    if not scopes:
        return credentials.visible_to(SYSTEM, Action.MANAGE_CREDENTIAL)
    unknown = [scope for scope in scopes if not scope_exists(scope)]
    if unknown:
        raise InvalidInput(f"no scope {', '.join(map(repr, unknown))}", field="scope")
    selected = credentials.none()
    for scope in scopes:
        selected |= credentials.visible_to(SYSTEM, Action.MANAGE_CREDENTIAL, scope)
    return selected


def _age(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
