"""The run log (fault testing): one line when a worker starts running a job, one when its forward pass ends.

Off unless ``JOB_RUN_LOG`` names a file. Every worker process of the machine
appends to it (``O_APPEND``: each line is one ``write``, so lines of several
processes never interleave). A line is ``start|end|died <job id> <attempt> <pid>
<unix time>``; a worker writes ``died`` for its child process (the quarantine,
``inference.jobs.quarantine``) that died running a job, since no supervisor sees
that process end. ``make chaos`` reads it to tell a job retried after its worker
died (runs one after the other) from a job run twice (two runs at once, or a run
after the job ended).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

from django.conf import settings


def _write(event: str, jobs: Sequence, pid: int | None = None) -> None:
    path = settings.JOB_RUN_LOG
    if not path:
        return
    now = time.time()
    pid = pid or os.getpid()
    text = "".join(f"{event} {job.id} {job.attempts} {pid} {now:.6f}\n" for job in jobs)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def runs_started(jobs: Sequence) -> None:
    _write("start", jobs)


def runs_ended(jobs: Sequence) -> None:
    _write("end", jobs)


def runs_died(jobs: Sequence, pid: int) -> None:
    """The process ``pid`` (a child of this one) died, or was killed, while it ran ``jobs``."""
    _write("died", jobs, pid)
