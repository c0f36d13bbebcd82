"""The admin of resources, backups and their schedules, cleanups and clones, credentials,
memberships, scope settings and quotas, API tokens and accounts, one module each.

Importing the package registers them all. Every change goes through a service, and what
each user may see or do is decided by the access rules (``resourcemanager.identity.roles``).
"""

from resourcemanager.ui.admin import (  # noqa: F401
    accounts,
    backup_schedules,
    backups,
    credentials,
    data_copies,
    memberships,
    quotas,
    resources,
    scope_settings,
    tokens,
)
