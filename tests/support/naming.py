"""Fresh backend names for adapter tests, with whatever they name removed afterwards.

The names carry this session's prefix, so whatever a test leaves is reported.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from providers.naming import new_backend_name
from tests.support.leaks import NAME_PREFIX


@contextmanager
def issued_names(remove: Callable[[str], None]) -> Iterator[Callable[[], str]]:
    """``issue()`` hands out a new name; ``remove(name)`` runs for each one at the end."""
    issued: list[str] = []

    def issue() -> str:
        issued.append(new_backend_name(NAME_PREFIX))
        return issued[-1]

    try:
        yield issue
    finally:
        for name in issued:
            remove(name)
