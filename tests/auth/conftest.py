"""The identity provider these tests sign in through: ``tests.support.oidc``."""

from tests.support.oidc import oidc_provider, oidc_server

__all__ = ["oidc_provider", "oidc_server"]
