"""The app's models, each defined in its room; Django loads them from here."""

from resourcemanager.backups.models import Backup, BackupSchedule, Cleanup, Clone, Restore
from resourcemanager.core.datakeys import DataKey
from resourcemanager.identity.models import ApiToken, ExternalIdentity, ScopeRole
from resourcemanager.outbox.models import OutboxMessage
from resourcemanager.resources.models import Credential, Resource
from resourcemanager.scopes.models import ScopeQuota, ScopeSettings

__all__ = [
    "ApiToken", "Backup", "BackupSchedule", "Cleanup", "Clone", "Credential", "DataKey",
    "ExternalIdentity", "OutboxMessage", "Resource", "Restore", "ScopeQuota", "ScopeRole",
    "ScopeSettings",
]
