"""The identity provider these tests sign in through: ``tests.support.oidc``; the API
clients' rolled-back database: ``tests.support.fast_commits``."""

from tests.support.fast_commits import rolled_back_api_db
from tests.support.oidc import oidc_provider, oidc_server

__all__ = ["oidc_provider", "oidc_server", "rolled_back_api_db"]
