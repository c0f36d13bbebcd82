"""Fresh backend names for adapter tests, with whatever they name removed afterwards."""

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager

from providers.adapters.naming import new_backend_name


@contextmanager
def issued_names(remove: Callable[[str], None]) -> Iterator[Callable[[], str]]:
    """``issue()`` hands out a new name; ``remove(name)`` runs for each one at the end,
    for all of them even when one fails (the first failure is raised afterwards)."""
    issued: list[str] = []

    def issue() -> str:
        issued.append(new_backend_name())
        return issued[-1]

    try:
        yield issue
    finally:
        with ExitStack() as removals:
            for name in issued:
                removals.callback(remove, name)
