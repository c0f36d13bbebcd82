"""The API clients' database: rolled back, with emulated commits (support/fast_commits.py)."""

from tests.support.fast_commits import rolled_back_api_db

__all__ = ["rolled_back_api_db"]
