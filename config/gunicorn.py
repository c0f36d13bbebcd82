"""gunicorn settings (``gunicorn -c config/gunicorn.py config.wsgi``).

With ``PROMETHEUS_MULTIPROC_DIR`` set, each worker process writes its metrics there; the
files of a worker that exits are marked so its live gauges stop counting
(docs/metrics.md).
"""

import os
from typing import Any

from prometheus_client import multiprocess


def child_exit(server: Any, worker: Any) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)
