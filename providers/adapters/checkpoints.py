"""Named points inside provider operations where a crash test can freeze a worker.

With ``RM_FREEZE_AT`` set to a point's name, the process that reaches it writes its pid to
the file named by ``RM_FREEZE_MARKER`` and sleeps until it is killed. The crash-recovery
tests use this to SIGKILL a worker at the worst moment (one backend object made, the
other not yet). Unset, as in production, a checkpoint costs one environment lookup.
"""

import os
import time
from pathlib import Path

#: Between the two backend objects of a CREATE (the first exists, the second not yet).
CREATE_HALF_DONE = "create.half-done"
#: Between the two backend objects of a DELETE (the first is gone, the second not yet).
DELETE_HALF_DONE = "delete.half-done"


def checkpoint(name: str) -> None:
    if os.environ.get("RM_FREEZE_AT") != name:
        return
    Path(os.environ["RM_FREEZE_MARKER"]).write_text(str(os.getpid()))
    while True:
        time.sleep(1)
