"""The admin of resources, memberships, API tokens and accounts, one module each.

Importing the package registers them all. Every change goes through a service, and what
each user may see or do is decided by the access rules (``resourcemanager.identity.roles``).
"""

from resourcemanager.ui.admin import accounts, memberships, resources, tokens  # noqa: F401
