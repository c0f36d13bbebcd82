"""Django's admin imports this module at start; the pages live in ``resourcemanager.ui.admin``."""

from resourcemanager.ui import admin  # noqa: F401 - registers the pages
