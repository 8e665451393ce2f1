"""When a running batch should stop: every job of it cancelled, its deadline passed, or the worker stopping."""

from __future__ import annotations

import time
from collections.abc import Sequence

from django.conf import settings

from ..runtime.running import job_deadline, stopping
from . import events


class BatchControl:
    """Asked between tokens by a running batch (through ``kinds.stopping.stop_check``).

    ``reason`` says why it stopped: ``"cancelled"`` (every job of the batch was
    cancelled), ``"deadline"`` (``JOB_SOFT_TIME_LIMIT_S`` after the claim) or
    ``"shutdown"`` (the worker is stopping and hands its jobs back). The
    cancellation flags are read at most every ``JOB_CANCEL_CHECK_INTERVAL_S``,
    in one Redis round trip for the whole batch.
    """

    def __init__(self, jobs: Sequence) -> None:
        self.job_ids = [str(job.id) for job in jobs]
        started = min(job.started_at for job in jobs)
        self.deadline = job_deadline(started).timestamp()
        self.reason: str | None = None
        self._next_cancel_check = 0.0

    def __call__(self) -> bool:
        if self.reason is not None:
            return True
        if stopping.is_set():
            self.reason = "shutdown"
        elif time.time() >= self.deadline:
            self.reason = "deadline"
        else:
            now = time.monotonic()
            if now >= self._next_cancel_check:
                self._next_cancel_check = now + settings.JOB_CANCEL_CHECK_INTERVAL_S
                if events.cancel_flags_count(self.job_ids) >= len(self.job_ids):
                    self.reason = "cancelled"
        return self.reason is not None
