"""Collision-free, opaque backend names and generated passwords."""

import re
import secrets
import string

DEFAULT_PREFIX = "rm_"
PREFIX_RE = re.compile(r"^[a-z][a-z0-9_]{0,15}$")
_ALPHABET = string.ascii_lowercase + string.digits
_RANDOM_LENGTH = 12
LOGIN_SUFFIX_LENGTH = 6
PASSWORD_BYTES = 32  # token_urlsafe(32) yields 43 URL-safe characters


def new_backend_name(prefix: str = DEFAULT_PREFIX) -> str:
    """``prefix`` plus 12 random characters: never the scope or the user-facing name."""
    if not PREFIX_RE.fullmatch(prefix):
        raise ValueError(f"invalid name prefix {prefix!r}")
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(_RANDOM_LENGTH))


def backend_name_pattern(prefix: str = DEFAULT_PREFIX) -> re.Pattern[str]:
    """What ``new_backend_name(prefix)`` produces; use ``fullmatch``."""
    if not PREFIX_RE.fullmatch(prefix):
        raise ValueError(f"invalid name prefix {prefix!r}")
    return re.compile(re.escape(prefix) + f"[a-z0-9]{{{_RANDOM_LENGTH}}}")


def prefix_of(name: str) -> str | None:
    """The prefix ``name`` was generated with, or None when we did not generate it."""
    prefix = name[:-_RANDOM_LENGTH]
    if PREFIX_RE.fullmatch(prefix) and backend_name_pattern(prefix).fullmatch(name):
        return prefix
    return None


def new_login_name(backend_name: str) -> str:
    """A login of its own to the resource ``backend_name``: its name plus ``_`` and 6
    random characters (``rm_k7x2q9f3m1ab_c3f9a1``), so the resource's logins share its name
    as a prefix and go with it."""
    suffix = "".join(secrets.choice(_ALPHABET) for _ in range(LOGIN_SUFFIX_LENGTH))
    return f"{backend_name}_{suffix}"


def is_login_of(name: str, backend_name: str) -> bool:
    """Whether ``new_login_name(backend_name)`` could have made ``name``."""
    return re.fullmatch(re.escape(backend_name) + f"_[a-z0-9]{{{LOGIN_SUFFIX_LENGTH}}}",
                        name) is not None


def new_password() -> str:
    return secrets.token_urlsafe(PASSWORD_BYTES)
