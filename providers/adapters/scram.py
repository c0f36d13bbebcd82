"""SCRAM-SHA-256 password verifiers in the form PostgreSQL stores them (RFC 5802 and
RFC 7677, as PostgreSQL's ``scram_build_secret``)::

    SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>

made with ``hashlib.pbkdf2_hmac``, which here is about twice as fast as libpq's own
hashing. Only for passwords that SASLprep leaves as they are (printable ASCII, as the
service generates them); ``verifier`` returns None for any other, and the caller lets libpq
hash it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

#: PostgreSQL's default ``scram_iterations``.
DEFAULT_ITERATIONS = 4096
SALT_BYTES = 16


def verifier(password: str, iterations: int = DEFAULT_ITERATIONS) -> str | None:
    """The verifier of ``password`` with a new random salt, or None when SASLprep could
    change the password (anything but printable ASCII)."""
    if not (password.isascii() and password.isprintable()):
        return None
    salt = os.urandom(SALT_BYTES)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    server_key = hmac.digest(salted, b"Server Key", "sha256")
    stored_key = hashlib.sha256(client_key).digest()
    return (f"SCRAM-SHA-256${iterations}:{_b64(salt)}"
            f"${_b64(stored_key)}:{_b64(server_key)}")


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")
