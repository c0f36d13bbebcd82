"""botocore's bundled data files (endpoints, service models) parsed once per test module.

Every botocore session makes a loader of its own, which parses those JSON files again
(tens of milliseconds per client), and the S3 adapter opens a session for each client it
makes. The files do not change during a run; one loader serves all the sessions here, as
one session's loader serves all of its clients.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import botocore.session
import pytest
from botocore.loaders import Loader


@contextmanager
def one_botocore_loader() -> Iterator[None]:
    """Within the block, botocore sessions share one loader per data path."""
    make_loader = botocore.session.create_loader
    loaders: dict[str | None, Loader] = {}

    def shared_loader(search_path_string: str | None = None) -> Loader:
        if search_path_string not in loaders:
            loaders[search_path_string] = make_loader(search_path_string)
        return loaders[search_path_string]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(botocore.session, "create_loader", shared_loader)
        yield
