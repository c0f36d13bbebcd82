"""How far a running data operation got: the bytes of its dump handled so far, recorded
on its row every ``EVERY`` seconds, so that the API and the admin show a long BACKUP,
RESTORE or CLONE moving (a backup's ``dump_size``, a restore's ``restored``, a clone's
``copied``), and the final count once it is over."""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator

from django.db import models

#: Seconds between two records of a run's progress.
EVERY = 5.0


class Progress:
    """Counts the bytes that pass through ``counted``, recording them in ``field`` of
    ``run`` now and then; ``done`` is the count so far."""

    def __init__(self, run: models.Model, field: str) -> None:
        self.run, self.field, self.done = run, field, 0

    def counted(self, chunks: Iterable[bytes]) -> Iterator[bytes]:
        last = time.monotonic()
        for chunk in chunks:
            self.done += len(chunk)
            if time.monotonic() - last > EVERY:
                type(self.run).objects.filter(pk=self.run.pk).update(**{self.field: self.done})
                last = time.monotonic()
            yield chunk
