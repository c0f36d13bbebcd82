"""The settings the benches run the app with: as deployed, DEBUG off (in DEBUG, Django's
cursor formats and keeps every statement, which costs time and memory that a deployment
does not spend), with secrets of the run's own."""

from __future__ import annotations

import secrets

from cryptography.fernet import Fernet


def deployed_settings() -> dict[str, str]:
    return {
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "RM_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    }
