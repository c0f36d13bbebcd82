"""Brute-force protection of password sign-in (django-axes): the lockout backend."""

from __future__ import annotations

from typing import Any

from axes.backends import AxesStandaloneBackend
from django.http import HttpRequest


class LoginLockoutBackend(AxesStandaloneBackend):
    """The first backend: refuses sign-ins of a locked-out username from its address.

    Sign-ins without a web request (``authenticate()`` in a shell or in a command run on
    the server) pass on to the next backend: there is no address to lock out.
    """

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> None:
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)
