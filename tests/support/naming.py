"""Fresh backend names for adapter tests, with whatever they name removed afterwards."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from providers.naming import new_backend_name


@contextmanager
def issued_names(remove: Callable[[str], None]) -> Iterator[Callable[[], str]]:
    """``issue()`` hands out a new name; ``remove(name)`` runs for each one at the end."""
    issued: list[str] = []

    def issue() -> str:
        issued.append(new_backend_name())
        return issued[-1]

    try:
        yield issue
    finally:
        for name in issued:
            remove(name)
