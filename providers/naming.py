"""Collision-free, opaque backend names and generated passwords."""

import re
import secrets
import string

DEFAULT_PREFIX = "rm_"
PREFIX_RE = re.compile(r"^[a-z][a-z0-9_]{0,15}$")
_ALPHABET = string.ascii_lowercase + string.digits
_RANDOM_LENGTH = 12
PASSWORD_BYTES = 32  # token_urlsafe(32) yields 43 URL-safe characters


def new_backend_name(prefix: str = DEFAULT_PREFIX) -> str:
    """``prefix`` plus 12 random characters: never the scope or the user-facing name."""
    if not PREFIX_RE.fullmatch(prefix):
        raise ValueError(f"invalid name prefix {prefix!r}")
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(_RANDOM_LENGTH))


def new_password() -> str:
    return secrets.token_urlsafe(PASSWORD_BYTES)
