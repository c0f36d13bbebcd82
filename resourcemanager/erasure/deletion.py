"""Deleting a scope, with crypto-shredding: its rows go and its data keys are destroyed,
so that copies of its secrets made elsewhere (rows exported or replicated, dumps) can no
longer be decrypted. A dump from before also holds the wrapped data key: it is shredded
too once the KEK that wrapped it is rotated and destroyed (README, Encryption at rest).

A scope with live resources is refused: their deletion is requested first, through the
resources' own service (the backend objects go too), and the scope is deleted once they
are. Consumers keep their own rows: they delete them when told by ``scope_deleting``.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.dispatch import Signal

from audit.models import AuditEntry
from audit.services import record
from resourcemanager.core import datakeys
from resourcemanager.core.datakeys import DataKey
from resourcemanager.core.errors import Conflict, Forbidden
from resourcemanager.core.key_rotation import encrypted_columns
from resourcemanager.core.validation import validate_scope
from resourcemanager.identity.models import ScopeRole
from resourcemanager.identity.roles import Principal
from resourcemanager.resources import services as resources
from resourcemanager.resources.models import Credential, Resource
from resourcemanager.scopes.models import ScopeSettings

#: Sent in the deletion's transaction with ``principal`` and ``scope``; each receiver
#: deletes what it keeps of the scope and returns a description of it ("3 consumers").
scope_deleting = Signal()


@dataclass
class ScopeDeletion:
    scope: str
    removed: list[str]
    destroyed_keys: int


def live_resources(scope: str) -> list[Resource]:
    return list(Resource.objects.filter(scope=validate_scope(scope)).live())


def request_resource_deletions(principal: Principal, scope: str) -> int:
    """Ask for the deletion of every live resource of the scope (each audited and run by
    the workers); how many were asked for."""
    require_operator(principal)
    found = live_resources(scope)
    for resource in found:
        resources.delete_resource(principal, resource)
    return len(found)


def delete_scope(principal: Principal, scope: str) -> ScopeDeletion:
    """Remove the scope's credentials, consumers, settings and memberships and destroy
    its data keys, in one transaction, audited. Refused (Conflict) while it has live
    resources, or when a secret of the scope would be left behind."""
    require_operator(principal)
    scope = validate_scope(scope)
    with transaction.atomic():
        if live := Resource.objects.filter(scope=scope).live().count():
            raise Conflict(
                f"scope {scope} still has {live} resource(s): delete them first (delete_scope "
                f"{scope} --delete-resources asks for it)", code="scope_in_use")
        removed = [
            *(str(answer) for _, answer in scope_deleting.send(
                sender=ScopeDeletion, principal=principal, scope=scope)),
            f"{Credential.objects.filter(scope=scope).delete()[0]} credential(s)",
            f"{ScopeSettings.objects.filter(scope=scope).delete()[0]} settings",
            f"{ScopeRole.objects.filter(scope=scope).delete()[0]} membership(s)",
        ]
        if left := _secrets_left(scope):
            raise Conflict(f"scope {scope} would keep secrets in {', '.join(left)}; nothing "
                           "was deleted", code="scope_in_use")
        destroyed = datakeys.destroy(DataKey.objects.filter(scope=scope))
        record(principal.name, "scope.delete", AuditEntry.Outcome.SUCCESS, scope=scope,
               message=f"removed {', '.join(removed)}; {destroyed} data key(s) destroyed")
    return ScopeDeletion(scope, removed, destroyed)


def require_operator(principal: Principal) -> None:
    if not principal.is_operator:
        raise Forbidden("only operators delete scopes")


def _secrets_left(scope: str) -> list[str]:
    """The labels of the scoped encrypted columns still holding a value of ``scope``."""
    return [column.label for column in encrypted_columns()
            if column.field.scope_field and column.stored([scope]).exists()]
