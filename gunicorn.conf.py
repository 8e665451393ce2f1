"""gunicorn's settings, read from the working directory (``scripts/run.sh`` starts gunicorn in the checkout).

Only the metrics hook: a web worker that exits takes its per-process gauges out of
``/metrics`` (prometheus-client's multiprocess mode, ``PROMETHEUS_MULTIPROC_DIR``).
"""

import os


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess  # here, not at the top: the master never makes metrics

        multiprocess.mark_process_dead(worker.pid)
